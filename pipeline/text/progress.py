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
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class _Lines:
    def __init__(self, total: int | None, desc: str, unit: str, every: float, stream):
        self.total, self.desc, self.unit, self.every, self.stream = total, desc, unit, every, stream
        self.done, self.began, self.last = 0, time.monotonic(), time.monotonic()
        self.of = "" if total is None else f"/{total}"
        self.lock, self.stopped = threading.Lock(), threading.Event()

    def update(self, n: int) -> None:
        with self.lock:
            if n == 0 and self.done == 0:  # a start said before slow work: no rate yet
                self._say(f"{self.desc}: 0{self.of} {self.unit}, starting")
                return
            self.done += n
            now = time.monotonic()
            known = self.total is not None  # with no total, no first or last line: a quick read says nothing
            if (known and (self.done == n or self.done >= self.total)) or now - self.last >= self.every:  # ~10 s
                rate = self.done / max(now - self.began, 1e-9)
                line = f"{self.desc}: {self.done}{self.of} {self.unit}, {rate:.1f} {self.unit}/s"
                if self.total is not None:
                    line += f", about {(self.total - self.done) / rate if rate else float('inf'):.0f} s left"
                self._say(line)

    def keep_saying(self) -> None:
        """Until stopped: a line whenever ``every`` seconds pass with none, so one long batch is not silence."""
        while not self.stopped.wait(self.every):
            with self.lock:
                if time.monotonic() - self.last >= self.every:
                    self._say(f"{self.desc}: {self.done}{self.of} {self.unit}, working for "
                              f"{time.monotonic() - self.began:.0f} s")

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
