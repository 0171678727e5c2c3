"""Many small writes become one transaction: callers submit an item and wait for its result, and whatever
arrived while the previous flush ran goes in the next one (group commit). Under light load a batch is one item
and nothing waits; under heavy load the database sees a few large transactions instead of many tiny ones."""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from shared.database_outage import is_database_outage

In = TypeVar("In")
Out = TypeVar("Out")


@dataclass(frozen=True)
class ItemFailed:
    """A flush's result for one item that failed on its own: that caller gets the error, the others their
    results."""

    error: Exception


class Coalescer(Generic[In, Out]):
    def __init__(
        self,
        flush: Callable[[list[In]], Awaitable[Sequence[Out | ItemFailed]]],
        *,
        max_items: int = 500,
        concurrency: int = 2,
    ) -> None:
        self._flush = flush
        self._max_items = max_items
        self._slots = asyncio.Semaphore(concurrency)
        self._waiting: list[tuple[In, asyncio.Future[Out]]] = []
        self._scheduled = False

    async def submit(self, item: In) -> Out:
        future: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._start_flush)
        return await future

    def _start_flush(self) -> None:
        self._scheduled = False
        if self._waiting:
            task = asyncio.ensure_future(self._run())
            task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)

    async def _run(self) -> None:
        async with self._slots:
            batch, self._waiting = self._waiting[: self._max_items], self._waiting[self._max_items :]
            if self._waiting and not self._scheduled:
                self._scheduled = True
                asyncio.get_running_loop().call_soon(self._start_flush)
            live = [(item, future) for item, future in batch if not future.done()]
            if not live:
                return
            try:
                results = await self._flush([item for item, _ in live])
            except BaseException as exc:
                for _, future in live:
                    if not future.done():
                        future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                return
            for (_, future), result in zip(live, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, ItemFailed):
                    future.set_exception(result.error)
                else:
                    future.set_result(result)


async def together_or_alone(
    items: list[In],
    together: Callable[[list[In]], Awaitable[Sequence[Out | ItemFailed]]],
    alone: Callable[[In], Awaitable[Out]] | None = None,
) -> list[Out | ItemFailed]:
    """A flush: the batch in one transaction; if the database refuses it for any reason but an outage, each item
    in a transaction of its own (`alone`, by default a batch of one), so only the item at fault fails. An outage
    fails them all (every caller retries)."""
    if alone is None:

        async def alone(item: In) -> Out:
            [result] = await together([item])
            if isinstance(result, ItemFailed):
                raise result.error
            return result

    if len(items) == 1:
        return [await alone(items[0])]
    try:
        return list(await together(items))
    except Exception as exc:
        if is_database_outage(exc):
            raise
    results: list[Out | ItemFailed] = []
    for item in items:
        try:
            results.append(await alone(item))
        except Exception as exc:
            results.append(ItemFailed(exc))
    return results
