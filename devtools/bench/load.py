"""Open-loop load: reports are posted on a fixed schedule whatever the answers, so a slow pipeline shows as
latency and errors instead of quietly lowering the offered rate (coordinated omission)."""

import asyncio
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field

import aiohttp

from devtools.runner.samples import sample_report


@dataclass
class LoadResult:
    offered_per_second: float
    seconds: float
    accepted: dict[str, float] = field(default_factory=dict)  # report id -> wall time of its 202
    statuses: Counter[str] = field(default_factory=Counter)
    answer_seconds: list[float] = field(default_factory=list)  # post -> 202

    @property
    def sent(self) -> int:
        return sum(self.statuses.values())


async def post_at_rate(
    intake_url: str, rate: float, seconds: float, towns: list[str], prefix: str, *, seed: int = 7
) -> LoadResult:
    rng = random.Random(seed)
    result = LoadResult(rate, seconds)
    total = max(1, int(rate * seconds))
    connector = aiohttp.TCPConnector(limit=512)  # aiohttp: the generator shares the cores it measures
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10.0)) as client:

        async def one(i: int) -> None:
            report_id = f"{prefix}-{i:06d}"
            body = json.dumps(sample_report(report_id, rng.choice(towns), missing=i % 3 == 0)).encode()
            started = time.perf_counter()
            try:
                async with client.post(
                    f"{intake_url}/v1/reports", data=body, headers={"content-type": "application/json"}
                ) as response:
                    await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                result.statuses[type(exc).__name__] += 1
                return
            result.statuses[str(status)] += 1
            if status == 202:
                result.accepted[report_id] = time.time()
                result.answer_seconds.append(time.perf_counter() - started)

        start = time.perf_counter()
        tasks = []
        for i in range(total):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    return result
