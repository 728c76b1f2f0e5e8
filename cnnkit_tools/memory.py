"""Peak resident memory, sampled from outside: of marked processes, or of a process and its children."""

import threading

import psutil


class Sampler:
    """Calls ``sample()`` every ``interval`` seconds in a thread while the ``with`` block runs."""

    interval = 0.2

    def sample(self):
        raise NotImplementedError

    def _watch(self):
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


class PeakByMarker(Sampler):
    """Largest RSS of any process started while active whose command line holds a marker, per marker."""

    def __init__(self, markers):
        self.markers = markers
        self.peak = {name: 0 for name in markers}
        self._before = {p.pid for p in psutil.process_iter()}

    def sample(self):
        for process in psutil.process_iter(["pid", "cmdline"]):
            if process.info["pid"] in self._before:
                continue
            line = " ".join(process.info["cmdline"] or ())
            for name, marker in self.markers.items():
                # The sandbox's own launchers carry the marker in their arguments too: skip them.
                if marker in line and "bwrap" not in line and "prlimit" not in line:
                    try:
                        self.peak[name] = max(self.peak[name], process.memory_info().rss)
                    except psutil.Error:
                        pass


class PeakTree(Sampler):
    """Largest summed RSS of a process and all its descendants."""

    interval = 0.25

    def __init__(self, pid):
        self.pid, self.peak = pid, 0

    def sample(self):
        try:
            root = psutil.Process(self.pid)
            processes = [root] + root.children(recursive=True)
        except psutil.Error:
            return
        total = 0
        for process in processes:
            try:
                total += process.memory_info().rss
            except psutil.Error:
                pass
        self.peak = max(self.peak, total)
