"""Selection by rule: `where="name.str.startswith('web-') and state == 'ACTIVE'"` over the fleet listing.

A rule is an expression of the rule language (rule_language.py: columns, literals, comparisons, `in`,
and/or/not, a few `.str` methods) over the `list_servers` frame (columns id, name, state, locked, region,
server_type, vcpus, ram, vpc_id, ip, created_at, modified_at). It is checked before anything is listed or
sent, and never run as Python; a missing value (NA) never matches.
"""

from __future__ import annotations

import pandas as pd

from scp_widgets.engine.servers import servers_frame
from scp_widgets.fleet.rule_language import RuleError, evaluate, parse_rule

__all__ = ["RuleError", "check_rule", "matching", "select", "with_region"]


def check_rule(rule: str) -> str:
    """The rule, once it is on the allow-list and evaluates on the listing's columns (before anything is
    listed or sent)."""
    parse_rule(rule)
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
    """The rows of `fleet` the rule selects; a rule that is refused or cannot be evaluated is one sentence."""
    mask = evaluate(fleet, parse_rule(rule), rule)
    return fleet[mask.to_numpy(dtype=bool)]


def select(fleet: pd.DataFrame, rule: str, where: str = "the fleet") -> pd.DataFrame:
    """Like `matching`, but a rule that matches no server is a `RuleError` too (nothing would be sent)."""
    chosen = matching(fleet, rule)
    if chosen.empty:
        raise RuleError(f"The rule {rule!r} matches none of the {len(fleet)} servers in {where}; nothing was sent.")
    return chosen
