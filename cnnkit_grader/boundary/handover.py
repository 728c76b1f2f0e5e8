"""Trusted side of the hand-over: where the kernel may write a graded cell's answers, and what is taken.

After a graded cell whose answers live in the kernel (``tasks.KERNEL_ANSWERS``: the trained
models), ``GuardedExecute`` has the kernel run ``code(answer, inbox)``, which is
``inside/handover.py`` as text. The kernel writes ``<answer>.json`` and the model files into
``inbox``, a fresh folder named at random each time, so nothing planted earlier can be taken.
``Inbox.take`` then moves only the expected names out of the kernel's reach, within limits,
never following a link. Everything taken is untrusted: the rules and the measurement judge it.
"""

import json
import os
import secrets
from pathlib import Path

from cnnkit_grader.boundary import files, sandbox
from cnnkit_grader.boundary.probe import ANSWER_LIMITS
from cnnkit_grader.inside import names
from cnnkit_grader.judge import tasks

FOLDER = ".cnnkit-handover"   # in the scratch copy: the inboxes are made in it


def make_folder(scratch, slot):
    """The hand-over folder in a submission's scratch copy: the grader's; the kernel may only read it,
    and only the slot's user may even do that. The scratch folder itself is sticky (sandbox.give
    with include_root=False), so the kernel cannot rename or replace it either."""
    (scratch / FOLDER).mkdir(mode=0o755)
    if slot.isolated_user:
        os.chown(scratch / FOLDER, 0, slot.gid)
        (scratch / FOLDER).chmod(0o750)


def code(answer, inbox):
    """What the kernel runs to hand ``answer`` over into ``inbox``: inside/handover.py's text, with
    inside/names.py's passed in as ``names``. The grader is not importable in the kernel (nor
    should be: the student's code could replace it there), so both go in as text."""
    source = (Path(sandbox.INSIDE) / "handover.py").read_text()
    names_source = (Path(sandbox.INSIDE) / "names.py").read_text()
    return ("def __cnnkit_handover():\n"
            "    import types\n"
            "    names = types.ModuleType('cnnkit_handover_names')\n"
            f"    exec(compile({names_source!r}, '<cnnkit names>', 'exec'), names.__dict__)\n"
            "    scope = {'__name__': 'cnnkit_handover', 'names': names}\n"
            f"    exec(compile({source!r}, '<cnnkit handover>', 'exec'), scope)\n"
            f"    scope['handover']({answer!r}, globals(), {str(inbox)!r})\n"
            "__cnnkit_handover()\n"
            "del __cnnkit_handover\n")


def wanted(answer, found):
    """The names in an inbox that ``answer`` may bring: its record, its models, Part H's tuned ones."""
    expected = [f"{answer}.json"] + [f"{model}{names.MODEL_SUFFIX}" for model in tasks.MODELS.get(answer, ())]
    return [n for n in found if n in expected or (answer == "tuning" and names.TUNED_FILE.fullmatch(n))]


class Inbox:
    """One hand-over of one answer: a fresh folder the slot's user may write, then ``take``."""

    def __init__(self, scratch, slot, answers, log):
        self.scratch, self.answers, self.log = Path(scratch), Path(answers), log
        self.folder = self.scratch / FOLDER / secrets.token_hex(8)
        sandbox.give_folder(self.folder, slot)

    def take(self, answer):
        """Move what the kernel wrote for ``answer`` into the answers folder; True when its record
        is a usable answer (the grader need not ask for it again)."""
        try:
            files.take(self.folder, wanted(answer, files.list_names(self.folder)), self.answers, ANSWER_LIMITS)
            if answer == "saving":
                self._take_saved_files()
        except OSError as err:  # whatever the kernel did to its files, this answer alone is lost
            self.log.warning("taking the %s answer: %s", answer, err)
        return isinstance(self._record(answer).get("values"), dict)

    def _record(self, answer):
        try:
            content = json.loads((self.answers / f"{answer}.json").read_text())
        except (OSError, ValueError, RecursionError):
            return {}
        return content if isinstance(content, dict) else {}

    def _take_saved_files(self):
        """The files the notebook saved under BASELINE_PATH and DROPOUT_PATH, taken by name, no link followed."""
        values = self._record("saving").get("values")
        if not isinstance(values, dict):
            return
        saved = [values.get(k) for k in names.SAVED_PATHS]
        saved = [n for n in saved if isinstance(n, str) and n and "/" not in n and n not in (".", "..")]
        folder = self.answers / names.SAVED
        folder.mkdir(exist_ok=True)
        files.take(self.scratch, saved, folder, ANSWER_LIMITS)
