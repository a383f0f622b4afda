"""Selection by rule: `where="name.str.startswith('web-') and state == 'ACTIVE'"` over the fleet listing.

A rule is a pandas `DataFrame.query` expression over the `list_servers` frame (columns id, name, state,
locked, region, server_type, vcpus, ram, vpc_id, ip, created_at, modified_at). It is evaluated with pandas'
python engine, so string methods (`.str.startswith`) work; a missing value (NA) counts as "does not match".
"""

from __future__ import annotations

import pandas as pd

from scp_widgets.client.errors import ScpUsageError
from scp_widgets.engine.servers import servers_frame


class RuleError(ScpUsageError):
    """A rule that does not parse, does not give True/False per server, or matches nothing."""


def check_rule(rule: str) -> str:
    """The rule, once it is known to evaluate on the listing's columns (before anything is sent)."""
    if not isinstance(rule, str) or not rule.strip():
        raise RuleError(f"where= needs a rule such as \"state == 'ACTIVE'\", not {rule!r}.")
    matching(with_region(servers_frame([])), rule)
    return rule.strip()


def with_region(frame: pd.DataFrame, region: str | None = None) -> pd.DataFrame:
    """The listing with a `region` column (after `locked`), so rules can name it."""
    out = frame.copy()
    if "region" not in out.columns:
        column = pd.Series([region] * len(out), index=out.index, dtype="string")
        out.insert(list(out.columns).index("locked") + 1, "region", column)
    out.attrs = dict(frame.attrs)
    return out


def matching(fleet: pd.DataFrame, rule: str) -> pd.DataFrame:
    """The rows of `fleet` the rule selects; a rule that cannot be evaluated is one `RuleError` sentence."""
    try:
        mask = fleet.eval(rule, engine="python", target=None)  # as DataFrame.query: no assignment
    except Exception as exc:  # pandas raises SyntaxError, NameError, KeyError, TypeError, ... for a bad rule
        reason = str(exc).splitlines()[0].rstrip(".") if str(exc) else type(exc).__name__
        raise RuleError(f"The rule {rule!r} does not parse as a query over the server list: {reason}.") from None
    if not isinstance(mask, pd.Series) or len(mask) != len(fleet) or not _booleans(mask):
        raise RuleError(f"The rule {rule!r} must give True or False for each server, like \"state == 'ACTIVE'\".")
    return fleet[mask.astype("boolean").fillna(False).to_numpy(dtype=bool)]


def _booleans(mask: pd.Series) -> bool:
    return bool(mask.dtype == bool or str(mask.dtype) == "boolean" or (len(mask) == 0 and mask.dtype == object))


def select(fleet: pd.DataFrame, rule: str, where: str = "the fleet") -> pd.DataFrame:
    """Like `matching`, but a rule that matches no server is a `RuleError` too (nothing would be sent)."""
    chosen = matching(fleet, rule)
    if chosen.empty:
        raise RuleError(f"The rule {rule!r} matches none of the {len(fleet)} servers in {where}; nothing was sent.")
    return chosen
