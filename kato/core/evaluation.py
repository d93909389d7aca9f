"""Scoring next-event prediction on held-out sequences (``kato evaluate``, issue 11).

For every prefix of a held-out sequence the caller asks for the predictions of that prefix as
STM; :class:`Scorer` turns them into a ranked list of *guesses* of the next event and checks
the true next event against it. Two ways of ranking the guesses are scored side by side, so a
user sees which serves their data:

- ``top``: the first future event of each prediction, in the predictions' order;
- ``aggregate``: predictions grouped by identical future (symbols sorted within each event),
  each group weighted by ``Σ frequency · similarity`` — the ``future_potentials`` vote of
  semantics §12.8 — and the first event of each group's future, heaviest group first.

A guess list never repeats an event (a later duplicate is dropped) and a prediction without a
future guesses nothing. Events compare as sorted symbol tuples: the symbols of one event have
no order. Pure: latency is measured by the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Event = tuple[str, ...]
SCORINGS = ("top", "aggregate")


def event_key(event: Iterable[str]) -> Event:
    return tuple(sorted(event))


def _first_events(futures: Iterable[Sequence[Sequence[str]]]) -> list[Event]:
    guesses: list[Event] = []
    for future in futures:
        if future:
            guess = event_key(future[0])
            if guess not in guesses:
                guesses.append(guess)
    return guesses


def top_guesses(predictions: Sequence[Mapping[str, Any]]) -> list[Event]:
    """Next-event guesses from the predictions in their ranked order."""
    return _first_events(prediction["future"] for prediction in predictions)


def aggregate_guesses(predictions: Sequence[Mapping[str, Any]]) -> list[Event]:
    """Next-event guesses from the futures voted for by all candidates (§12.8).

    Groups tied on weight keep the order of their best-ranked member (a stable sort).
    """
    totals: dict[tuple[Event, ...], float] = {}
    for prediction in predictions:
        future = tuple(event_key(event) for event in prediction["future"])
        if future:
            weight = prediction["frequency"] * prediction["similarity"]
            totals[future] = totals.get(future, 0.0) + weight
    ranked = sorted(totals, key=lambda future: -totals[future])
    return _first_events(ranked)


GUESSERS = {"top": top_guesses, "aggregate": aggregate_guesses}


@dataclass(slots=True)
class Tally:
    """Running counts of one scoring."""

    k: int
    prefixes: int = 0
    covered: int = 0  # prefixes with at least one guess
    hits_at_1: int = 0
    hits_at_k: int = 0
    reciprocal_ranks: float = 0.0

    def add(self, guesses: Sequence[Event], truth: Event) -> None:
        self.prefixes += 1
        if guesses:
            self.covered += 1
        if truth in guesses:
            rank = guesses.index(truth) + 1
            self.hits_at_1 += rank == 1
            self.hits_at_k += rank <= self.k
            self.reciprocal_ranks += 1 / rank

    def figures(self) -> dict[str, float]:
        """Accuracy@1, accuracy@k, MRR and coverage, as fractions of all prefixes."""
        count = self.prefixes or 1  # an empty data set scores 0, not a division error
        return {
            "accuracy_at_1": self.hits_at_1 / count,
            f"accuracy_at_{self.k}": self.hits_at_k / count,
            "mrr": self.reciprocal_ranks / count,
            "coverage": self.covered / count,
        }


@dataclass(slots=True)
class Scorer:
    """Scores every prefix under each scoring of :data:`SCORINGS`."""

    k: int
    tallies: dict[str, Tally] = field(init=False)

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError("k must be at least 1")
        self.tallies = {name: Tally(self.k) for name in SCORINGS}

    def add(self, predictions: Sequence[Mapping[str, Any]], truth: Iterable[str]) -> None:
        """Score the predictions made for one prefix against its true next event."""
        true_event = event_key(truth)
        for name, guesser in GUESSERS.items():
            self.tallies[name].add(guesser(predictions), true_event)

    @property
    def prefixes(self) -> int:
        return self.tallies["top"].prefixes

    def figures(self) -> dict[str, dict[str, float]]:
        return {name: tally.figures() for name, tally in self.tallies.items()}


def prefixes(events: Sequence[Sequence[str]]) -> Iterable[tuple[list[list[str]], list[str]]]:
    """Every (context, next event) of a sequence: contexts of 1 … n-1 events."""
    for cut in range(1, len(events)):
        yield [list(event) for event in events[:cut]], list(events[cut])
