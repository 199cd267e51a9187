"""Progress a person can see: a tqdm bar on a terminal; on a pipe or a log file, where a bar is
unreadable, one line on stderr at the first batch, about every ``every`` seconds after, and at the end
(done/total, rate, time left).

>>> import io
>>> out = io.StringIO()
>>> with progress(4, "label (x)", "prompts", every=0.0, stream=out) as bar:
...     bar.update(2)
>>> out.getvalue().startswith("label (x): 2/4 prompts")
True

With no ``total`` (a file read as it streams), a line every ``every`` seconds counts what is done:

>>> out = io.StringIO()
>>> with progress(None, "ingest x.csv", "rows", every=0.0, stream=out) as bar:
...     bar.update(5)
>>> out.getvalue().startswith("ingest x.csv: 5 rows")
True

``update(0)`` before the first item says that slow work has started:

>>> out = io.StringIO()
>>> with progress(3, "fit", "dimensions", stream=out) as bar:
...     bar.update(0)
>>> out.getvalue().strip()
'fit: 0/3 dimensions, starting'

While one batch takes longer than ``every`` (a model writing on a CPU), a line says the work goes on:

>>> out = io.StringIO()
>>> with progress(4, "pairs", "prompts", every=0.05, stream=out) as bar:
...     time.sleep(0.3)
>>> out.getvalue().splitlines()[0].startswith("pairs: 0/4 prompts, working for ")
True

Items that keep moving between lines keep the rate and the time left in them (a slow rate with its digits):

>>> out = io.StringIO()
>>> with progress(100, "label", "prompts", every=0.2, stream=out) as bar:
...     for _ in range(10):
...         time.sleep(0.05)
...         bar.update(1)
>>> [line for line in out.getvalue().splitlines() if "working for" in line]
[]
>>> out.getvalue().splitlines()[-1].split(", ")[2].endswith("s left")
True
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


def rate_text(rate: float) -> str:
    """A rate with the digits that matter: one decimal from 1 up, two significant digits below.

    >>> rate_text(426.04), rate_text(0.2), rate_text(0.0312)
    ('426.0', '0.2', '0.031')
    """
    return f"{rate:.1f}" if rate >= 1 or rate == 0 else f"{rate:.2g}"


class _Lines:
    def __init__(self, total: int | None, desc: str, unit: str, every: float, stream):
        self.total, self.desc, self.unit, self.every, self.stream = total, desc, unit, every, stream
        self.done, self.began, self.last = 0, time.monotonic(), time.monotonic()
        self.moved = self.began  # when the count last went up
        self.of = "" if total is None else f"/{total}"
        self.lock, self.stopped = threading.Lock(), threading.Event()

    def update(self, n: int) -> None:
        with self.lock:
            if n == 0 and self.done == 0:  # a start said before slow work: no rate yet
                self._say(f"{self.desc}: 0{self.of} {self.unit}, starting")
                return
            self.done += n
            now = time.monotonic()
            if n:
                self.moved = now
            known = self.total is not None  # with no total, no first or last line: a quick read says nothing
            if (known and (self.done == n or self.done >= self.total)) or now - self.last >= self.every:  # ~10 s
                self._say(self._rate_line(now))

    def _rate_line(self, now: float) -> str:
        """Done so far, the rate, and (with a total) the time left at that rate."""
        rate = self.done / max(now - self.began, 1e-9)
        line = f"{self.desc}: {self.done}{self.of} {self.unit}, {rate_text(rate)} {self.unit}/s"
        if self.total is not None:
            line += f", about {(self.total - self.done) / rate if rate else float('inf'):.0f} s left"
        return line

    def keep_saying(self) -> None:
        """Until stopped: a line whenever ``every`` seconds pass with none, so one long batch is not silence: the
        rate and time left while items move, "working for N s" only when none has moved for ``every`` seconds."""
        while not self.stopped.wait(self.every):
            with self.lock:
                now = time.monotonic()
                if now - self.last < self.every:
                    continue
                if now - self.moved < self.every and self.done:
                    self._say(self._rate_line(now))
                else:
                    self._say(f"{self.desc}: {self.done}{self.of} {self.unit}, working for {now - self.began:.0f} s")

    def _say(self, line: str) -> None:
        self.last = time.monotonic()
        print(line, file=self.stream, flush=True)


class _Hidden:
    def update(self, n: int) -> None:
        pass


@contextmanager
def progress(total: int | None, desc: str, unit: str, every: float = 10.0, stream=None, shown: bool = True) -> Iterator:
    """An object with ``update(n)``: tqdm where ``stream`` (default stderr) is a terminal, lines elsewhere,
    nothing when not ``shown``; ``total`` is ``None`` when not known beforehand."""
    stream = stream or sys.stderr
    if not shown:
        yield _Hidden()
    elif stream.isatty():
        from tqdm import tqdm

        with tqdm(total=total, desc=desc, unit=f" {unit}", file=stream) as bar:
            yield bar
    else:
        lines = _Lines(total, desc, unit, every, stream)
        ticker = threading.Thread(target=lines.keep_saying, daemon=True) if every > 0 else None
        if ticker:
            ticker.start()
        try:
            yield lines
        finally:
            lines.stopped.set()
            if ticker:
                ticker.join()
