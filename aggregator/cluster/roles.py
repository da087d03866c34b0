"""How a member relates to its story: "wire", "copy" or "report".

- wire:   verbatim or near-verbatim republication (a wire story run as is, maybe trimmed);
- copy:   substantial reuse of an earlier member's text, but edited/rewritten around it;
- report: an independent report of the event (or the story's first article).
"""

from __future__ import annotations

from .params import ClusterParams

WIRE, COPY, REPORT = "wire", "copy", "report"


def role_for(copy_of: int | None, jaccard: float, containment: float, p: ClusterParams) -> str:
    if copy_of is None:
        return REPORT
    if jaccard >= p.wire_jaccard or containment >= p.wire_containment:
        return WIRE
    return COPY
