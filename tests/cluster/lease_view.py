"""The lease view a recorder reads (``ronda.recording.recorder.Leases``), set by the test instead of a
lease keeper: ``now`` is what the node holds (camera → (epoch, gap reason)), ``leaving`` what it gives up."""

from __future__ import annotations


class LeaseView:
    def __init__(self, node: str) -> None:
        self.node = node
        self.now: dict[int, tuple[int, str | None]] = {}
        self.leaving: set[int] = set()

    def held(self) -> dict[int, tuple[int, str | None]]:
        return dict(self.now)

    def giving_up(self) -> set[int]:
        return set(self.leaving)

    async def start(self, on_change=None) -> None:  # noqa: ANN001
        return None

    async def stop(self) -> None:
        return None
