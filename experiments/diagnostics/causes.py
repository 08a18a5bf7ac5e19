"""Root causes: when several analyzers fire on one run, one mistake often shows up as
several findings (dead ReLUs pass no gradient back, so the gradients vanish too). This
table says which finding kinds explain which; ``fold`` applies it to a run's findings
so that the Health panel leads with the cause and folds its consequences under it,
and the header counts the mistake once.

It is data, read where findings are assembled (``store``): analyzers stay independent
and each still stores what it sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Rule:
    """``cause`` explains each of ``consequences``. With ``after_cause`` only a consequence
    whose evidence begins at or after the cause's own first step (for a divergence, where
    the blow-up began): a finding computed on what the cause had already broken."""

    cause: str
    consequences: frozenset[str]
    why: str
    after_cause: bool = False


def _rule(cause: str, consequences: Sequence[str], why: str, after_cause: bool = False) -> Rule:
    return Rule(cause, frozenset(consequences), why, after_cause)


# Best explanation first: a consequence with several possible causes among a run's
# findings is folded under the first rule's cause.
RULES: tuple[Rule, ...] = (
    _rule(
        "lr_too_high",
        ("exploding_gradients", "divergence", "loss_spike"),
        "updates too large for the loss make the gradients and then the loss blow up",
    ),
    _rule(
        "divergence",
        ("exploding_gradients",),
        "the gradients of a diverging loss blow up with it",
    ),
    _rule(
        "dead_relu",
        ("vanishing_gradients", "collapsed_class", "underfitting", "lr_too_low", "not_converged"),
        "a dead ReLU layer passes back no gradient and carries no information: the layers before it "
        "stop learning, the loss hardly moves and the output falls back on one class",
    ),
    _rule(
        "divergence",
        (
            "vanishing_gradients",
            "dead_relu",
            "collapsed_class",
            "overfitting",
            "underfitting",
            "not_converged",
            "lr_too_low",
            "loss_spike",
        ),
        "everything computed after the weights became NaN or exploded reads the broken weights",
        after_cause=True,
    ),
)


class FindingLike(Protocol):
    kind: str
    step_start: int | None


def explains(cause: FindingLike, consequence: FindingLike) -> Rule | None:
    """The first rule by which ``cause`` explains ``consequence``, if any."""
    for rule in RULES:
        if rule.cause != cause.kind or consequence.kind not in rule.consequences:
            continue
        if rule.after_cause:
            begins, effect = cause.step_start, consequence.step_start
            if begins is None or effect is None or effect < begins:
                continue
        return rule
    return None


def fold(findings: Sequence[FindingLike]) -> dict[int, int]:
    """``{index of a consequence: index of its direct cause}`` among ``findings`` (most
    pressing first). Each finding gets at most one cause, the first rule's (then the
    most pressing finding of that kind); a link that would close a cycle is left out, so
    every chain ends at a root."""
    parent: dict[int, int] = {}
    order = {rule: n for n, rule in enumerate(RULES)}
    for i, effect in enumerate(findings):
        best: tuple[int, int] | None = None
        for j, cause in enumerate(findings):
            if i == j:
                continue
            rule = explains(cause, effect)
            if rule is None or _reaches(parent, j, i):
                continue
            rank = (order[rule], j)
            if best is None or rank < best:
                best = rank
        if best is not None:
            parent[i] = best[1]
    return parent


def _reaches(parent: dict[int, int], start: int, target: int) -> bool:
    seen = set()
    while start in parent and start not in seen:
        seen.add(start)
        start = parent[start]
        if start == target:
            return True
    return start == target


def root_of(parent: dict[int, int], index: int) -> int:
    seen = set()
    while index in parent and index not in seen:
        seen.add(index)
        index = parent[index]
    return index


def grouped(findings: Sequence[FindingLike]) -> tuple[list[int], dict[int, int]]:
    """Indices of ``findings`` (most pressing first) in display order: each root, its
    consequences right after it (in their own order), roots ordered by their group's
    most pressing member; and the ``fold`` links."""
    parent = fold(findings)
    members: dict[int, list[int]] = {}
    for i in range(len(findings)):
        members.setdefault(root_of(parent, i), []).append(i)
    roots = sorted(members, key=lambda r: min(members[r]))
    order: list[int] = []
    for root in roots:
        order.append(root)
        order.extend(i for i in members[root] if i != root)
    return order, parent
