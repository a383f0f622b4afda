"""The fleet layer: several regions in one frame, the rule language, maintenance windows and the drift guard.
It builds on the engine and the client."""
