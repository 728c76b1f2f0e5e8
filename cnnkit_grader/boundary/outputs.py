"""What the grader keeps of a kernel's outputs: bounded in size, well formed, one cell at a time.

The kernel is the student's: every message it sends on IOPub is hostile input to the grader's
own process. nbclient keeps what it is sent (and ``update_display_data`` rewrites outputs that
are already kept, in any earlier cell, without passing through ``output``), so the caps are
kept here on the size the grader really keeps, per cell and per notebook:

- a new output (stream, display_data, execute_result, error) is kept only if it fits; a stream
  is cut to what fits; a cell's first error is always kept (cut to its first 2,000 characters
  and last 60 lines), so the cell still fails;
- an update of a display (``update_display_data``, or a display sent again with the same
  ``display_id``) is applied only if every cell it rewrites stays within its cap, and the
  notebook too, measured as the new size less the old;
- ``clear_output`` gives its cell's room back, so a progress bar that redraws itself is never cut;
- widget messages (comms) are not kept at all: the grader runs no widgets, and the sanitiser
  removes their state anyway;
- an output the notebook format does not allow (a ``text/plain`` that is not a string, a stream
  with no name) is replaced by a note in its own cell; nbformat would otherwise raise, and the
  whole submission would fail. The cell's test, if it has one, still judges the cell.
"""

import json

from nbclient.client import NotebookClient
from nbformat.v4 import new_output
from nbformat.v4.nbbase import output_from_msg

MALFORMED = ("[an output of this cell was left out: it is not a well-formed notebook output "
             "({reason})]\n")
CUT = "\n[output cut: a cell may keep {cell:,} bytes of output and a notebook {notebook:,}]\n"


def error_output(name, message):
    """An error output the grader writes into a cell (its own verdict, or why the cell did not run)."""
    return new_output("error", ename=name, evalue=message, traceback=[f"{name}: {message}"])


def size_of(node):
    """Bytes of JSON the grader keeps for an output's content (its data, metadata and text)."""
    try:
        return len(json.dumps(node, default=repr))
    except (TypeError, ValueError, RecursionError):
        return float("inf")


OUTPUT_TYPES = ("stream", "display_data", "execute_result", "error")


def _joined(value):
    """A multiline string (nbformat allows a list of lines) as one string, as nbformat reads it."""
    if isinstance(value, list) and all(isinstance(line, str) for line in value):
        return "".join(value)
    return value


def _normalise(content):
    if "text" in content:
        content["text"] = _joined(content["text"])
    data = content.get("data")
    if isinstance(data, dict):
        for mime in list(data):
            if not mime.endswith("json"):
                data[mime] = _joined(data[mime])


def _error(content):
    content["evalue"] = str(content.get("evalue", ""))[:2000]
    traceback = content.get("traceback")
    traceback = traceback if isinstance(traceback, list) else []
    content["traceback"] = [str(line)[:2000] for line in traceback[-60:]]
    content["ename"] = str(content.get("ename", ""))[:200]


class CappedOutputs(NotebookClient):
    """Mixed into the Execute preprocessor: ``cell_output_bytes`` and ``notebook_output_bytes`` hold."""

    def reset_caps(self):
        self._kept = {}            # cell index -> bytes kept
        self._notebook_bytes = 0
        self._cut_cells = set()
        self._errored = set()
        self._malformed = set()
        self._current_cell = None

    def _room(self, cell_index):
        return min(self.cell_output_bytes - self._kept.get(cell_index, 0),
                   self.notebook_output_bytes - self._notebook_bytes)

    def _keep(self, cell_index, size):
        self._kept[cell_index] = self._kept.get(cell_index, 0) + size
        self._notebook_bytes += size

    def _say_cut(self, outs, cell_index):
        if cell_index not in self._cut_cells:
            self._cut_cells.add(cell_index)
            note = new_output("stream", name="stdout", text=CUT.format(
                cell=self.cell_output_bytes, notebook=self.notebook_output_bytes))
            outs.append(note)
            self._keep(cell_index, size_of(note))

    def _forget(self, outs, cell_index):
        """The cell's outputs are about to be cleared: its room comes back."""
        self._notebook_bytes -= self._kept.pop(cell_index, 0)
        self._cut_cells.discard(cell_index)

    # ------------------------------------------------------------ nbclient's entry points
    def process_message(self, msg, cell, cell_index):
        self._current_cell = cell_index
        content = msg.get("content")
        if isinstance(content, dict) and "execution_count" in content and (
                not isinstance(content["execution_count"], int) or isinstance(content["execution_count"], bool)):
            content["execution_count"] = None   # nbclient would write it into the cell as it is
        return super().process_message(msg, cell, cell_index)

    def handle_comm_msg(self, outs, msg, cell_index):
        return None   # widgets: nothing kept

    def clear_output(self, outs, msg, cell_index):
        if not msg.get("content", {}).get("wait"):
            self._forget(outs, cell_index)
        return super().clear_output(outs, msg, cell_index)

    def output(self, outs, msg, display_id, cell_index):
        content = msg.get("content")
        if msg["msg_type"] not in OUTPUT_TYPES or not isinstance(content, dict):
            return None   # as nbclient does with a message that is no output
        if msg["msg_type"] == "error":
            _error(content)
        _normalise(content)
        try:
            node = output_from_msg(msg)
        except Exception as err:  # noqa: BLE001 - nbformat's validation error, or a missing field
            if cell_index not in self._malformed:   # one note per cell, however many such outputs
                self._malformed.add(cell_index)
                reason = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
                note = new_output("stream", name="stdout", text=MALFORMED.format(reason=reason))
                outs.append(note)
                self._keep(cell_index, size_of(note))
            return None
        if self.clear_before_next_output:
            self._forget(outs, cell_index)
        size = size_of(node)
        first_error = msg["msg_type"] == "error" and cell_index not in self._errored
        if size > self._room(cell_index) and not first_error:
            room = self._room(cell_index)
            if room > 0 and msg["msg_type"] == "stream" and isinstance(content.get("text"), str):
                text = content["text"][:room]
                while text and size_of(new_output("stream", name="stdout", text=text)) > room:
                    text = text[:len(text) // 2]   # JSON escapes can make a character 6 bytes
                content["text"] = text
                out = super().output(outs, msg, display_id, cell_index)
                self._keep(cell_index, size_of(out) if out is not None else 0)
            self._say_cut(outs, cell_index)
            return None
        if msg["msg_type"] == "error":
            self._errored.add(cell_index)
        out = super().output(outs, msg, display_id, cell_index)
        self._keep(cell_index, size)
        return out

    def _update_display_id(self, display_id, msg):
        targets = self._display_id_map.get(display_id)
        if not targets:
            return
        if msg["header"]["msg_type"] == "update_display_data":
            msg["header"]["msg_type"] = "display_data"
        content = msg.get("content")
        if isinstance(content, dict):
            _normalise(content)
        try:
            new = output_from_msg(msg)
        except Exception:  # noqa: BLE001 - a malformed update changes nothing
            return
        new_size = size_of({"data": new.get("data"), "metadata": new.get("metadata")})
        growth, total = {}, 0
        for cell_idx, indices in targets.items():
            outputs = self.nb["cells"][cell_idx]["outputs"]
            for i in indices:
                if i < len(outputs):
                    old = size_of({"data": outputs[i].get("data"), "metadata": outputs[i].get("metadata")})
                    growth[cell_idx] = growth.get(cell_idx, 0) + new_size - old
        total = sum(growth.values())
        if total > self.notebook_output_bytes - self._notebook_bytes or any(
                self._kept.get(c, 0) + g > self.cell_output_bytes for c, g in growth.items() if g > 0):
            current = self._current_cell
            if current is not None:
                self._say_cut(self.nb["cells"][current]["outputs"], current)
            return
        for cell_idx, indices in targets.items():
            outputs = self.nb["cells"][cell_idx]["outputs"]
            for i in indices:
                if i < len(outputs):
                    outputs[i]["data"] = new["data"]
                    outputs[i]["metadata"] = new["metadata"]
        for cell_idx, g in growth.items():
            self._keep(cell_idx, g)
