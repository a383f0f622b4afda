"""The client layer: signing, credentials, endpoints, regions and versions, transports, one attempt under a
deadline, rate limit and retry policy, and `ScpClient` / `AsyncScpClient`. It knows nothing of bulk runs,
pandas or widgets, and imports nothing else of the package."""
