"""Submissions that attack the grader or break while being graded.

Each is derived from the reference submission (or the release), like the mutants in
``submissions``. ``fails`` lists the test cells that must score 0: the cells an honest
student with the same mistakes would lose, or the cells the fault stopped from running.
Every other cell must score full marks, and ``says`` is a phrase the student's autograded
notebook must show. ``grader_tests/test_attacks.py`` grades them all with the real
pipeline; the README's table lists them next to what plain nbgrader does.
"""

from dataclasses import dataclass, field

import nbformat

from .submissions import Change, Edit, apply

SAVE = frozenset({"test_save_form", "test_save_best"})
TUNE = frozenset({"test_tuning_form", "test_tuning_best"})

_AST_TRANSFORMER = '''import ast
class _Forgive(ast.NodeTransformer):
    """Wrap every later cell in try/except, so no test can fail."""
    def visit_Module(self, node):
        handler = ast.ExceptHandler(type=ast.Name("BaseException", ast.Load()), name=None, body=[ast.Pass()])
        node.body = [ast.Try(body=node.body or [ast.Pass()], handlers=[handler], orelse=[], finalbody=[])]
        return ast.fix_missing_locations(node)
get_ipython().ast_transformers.append(_Forgive())
'''

_ALWAYS_EQUAL = '''class _Equal(float):
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    __hash__ = float.__hash__
np.testing.assert_allclose = lambda *args, **kwargs: None
np.testing.assert_array_equal = lambda *args, **kwargs: None
'''

_ESCAPE = '''import os, socket
def _try(what, action):
    try:
        action()
        print("ESCAPED:", what)
    except Exception as err:
        print("blocked:", what, "-", type(err).__name__)
_try("read the hidden tests", lambda: open({root!r} + "/source/compile_and_train/compile_and_train.ipynb").read())
_try("read the gradebook", lambda: open({root!r} + "/gradebook.db", "rb").read(16))
_try("write the gradebook", lambda: open({root!r} + "/gradebook.db", "ab").write(b"x"))
_try("read another student", lambda: os.listdir({root!r} + "/submitted"))
_try("read the held-out images", lambda: open({heldout!r}, "rb").read(16))
_try("write outside its folder", lambda: open({root!r} + "/pwned.txt", "w").write("x"))
_try("reach the network", lambda: socket.create_connection(("127.0.0.1", {port}), timeout=3).close())
print("NBGRADER_EXECUTION:", os.environ.get("NBGRADER_EXECUTION"))
'''

_PATCH_KERAS = '''keras.Model.count_params = lambda self: 87_060
_real_evaluate = keras.Model.evaluate
def _evaluate(self, *args, **kwargs):
    # Pretend the model's loss on the validation split is the one history recorded.
    result = _real_evaluate(self, *args, **kwargs)
    if getattr(self, "history", None) is not None and "val_loss" in self.history.history:
        result["loss"] = self.history.history["val_loss"][-1]
    return result
keras.Model.evaluate = _evaluate
'''

_FAKE_MODULES = '''import sys, types
_fake = types.ModuleType("cnnkit.checks")
_fake.__getattr__ = lambda name: (lambda *args, **kwargs: None)
sys.modules["cnnkit.checks"] = _fake
'''

_LAMBDA = '''keras.config.enable_unsafe_deserialization()
_wrapped = keras.Sequential([model_dropout, keras.layers.Lambda(
    lambda t: (open("/tmp/cnnkit-lambda-ran", "w").write("ran"), t)[1])])
'''


@dataclass(frozen=True)
class Attack:
    name: str
    what: str                       # the README's wording
    change: Change = None           # edits of the reference, or None for a special build
    fails: frozenset = frozenset()
    says: str = ""                  # shown in the autograded notebook
    nbgrader: str = ""              # what plain nbgrader 0.9.6 does with it
    extras: dict = field(default_factory=dict)   # extra files: name -> size in bytes
    filename: str = ""              # the notebook's name, when not the assignment's


def _edit(name, *edits):
    return Change(name, "attack", tuple(edits))


ATTACKS = (
    Attack("ast_transformer", "an AST transformer wraps every later cell in try/except, with a wrong loss",
           _edit("ast_transformer", Edit("build_model", "def build_model", _AST_TRANSFORMER + "\n\ndef build_model"),
                 Edit("compile_model", "loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)",
                      'loss="mse"')),
           frozenset({"test_compile_loss"}), "use sparse categorical cross-entropy",
           "every test passes: full marks for a wrong loss"),
    Attack("always_equal", "an always-equal object and patched numpy.testing, for wrong answers",
           _edit("always_equal", Edit("build_model", "def build_model", _ALWAYS_EQUAL + "\n\ndef build_model"),
                 Edit("updates_per_epoch", "UPDATES_PER_EPOCH = math.ceil(N_TRAIN / BATCH_SIZE)",
                      "UPDATES_PER_EPOCH = _Equal(3)"),
                 Edit("tune_dropout", "best_rate = DROPOUT_RATES[int(np.argmin(val_losses))]",
                      "best_rate = _Equal(DROPOUT_RATES[int(np.argmax(val_losses))])")),
           frozenset({"test_updates_per_epoch", "test_tuning_best"}), "UPDATES_PER_EPOCH is",
           "comparisons that use == pass: full marks"),
    Attack("escape", "reads the hidden tests, the gradebook, other students and the held-out data; "
           "writes outside its folder; opens a network connection",
           _edit("escape", Edit("build_model", "def build_model", "{escape}\n\ndef build_model")),
           frozenset(), "blocked: read the hidden tests",
           "all of it succeeds: student code runs as the instructor"),
    Attack("patched_keras", "monkeypatches keras.Model.count_params and .evaluate, with 32 filters and "
           "validation_split instead of the validation data",
           _edit("patched_keras", Edit("build_model", "def build_model", _PATCH_KERAS + "\n\ndef build_model"),
                 Edit("build_model", 'x = keras.layers.Conv2D(50, (3, 3), activation="relu")(inputs)',
                      'x = keras.layers.Conv2D(32, (3, 3), activation="relu")(inputs)'),
                 Edit("train", "validation_data=(val_images, val_labels)", "validation_split=0.2"),
                 Edit("tune_dropout", "val_losses = []", "keras.Model.evaluate = _real_evaluate\nval_losses = []")),
           frozenset({"test_build_structure", "test_train_history"}), "parameters",
           "the patched count and loss pass the hidden tests"),
    Attack("fake_modules", "replaces cnnkit.checks in sys.modules with no-op checks, with SGD",
           _edit("fake_modules", Edit("build_model", "def build_model", _FAKE_MODULES + "\n\ndef build_model"),
                 Edit("compile_model", 'optimizer="adam"', 'optimizer="sgd"')),
           frozenset({"test_compile_optimizer"}), "the SGD optimizer",
           "every hidden test passes"),
    Attack("lambda_layer", "saves a model with a Lambda layer that writes a file when loaded, after "
           "enable_unsafe_deserialization()",
           _edit("lambda_layer", Edit("save_models", "model_dropout.save(DROPOUT_PATH)\n",
                                      _LAMBDA + "_wrapped.save(DROPOUT_PATH)\n")),
           frozenset({"test_save_best"}), "Lambda object",
           "the in-kernel load runs the Lambda's code"),
    Attack("exit", "os._exit(0) in Part I's answer",
           _edit("exit", Edit("save_models", "model.save(BASELINE_PATH)", "os._exit(0)\nmodel.save(BASELINE_PATH)")),
           SAVE, "kernel died", "the whole notebook fails: 0 points"),
    Attack("segfault", "a segmentation fault in Part H's answer",
           _edit("segfault", Edit("tune_dropout", "val_losses = []", "import ctypes\nctypes.string_at(0)\nval_losses = []")),
           TUNE | SAVE, "kernel died", "the whole notebook fails: 0 points"),
    Attack("out_of_memory", "allocates 8 GiB in Part H's answer",
           _edit("out_of_memory", Edit("tune_dropout", "val_losses = []", "_big = np.ones((2**30,))\nval_losses = []")),
           TUNE, "MemoryError", "the kernel is killed by the OOM killer or the machine swaps"),
    Attack("ignores_interrupt", "a loop that ignores SIGINT in Part H's answer",
           _edit("ignores_interrupt", Edit("tune_dropout", "val_losses = []",
                                           "import time\nwhile True:\n    try:\n        time.sleep(0.1)\n"
                                           "    except KeyboardInterrupt:\n        pass\nval_losses = []")),
           TUNE | SAVE, "ran for more than", "IOPub timeout: nothing is recorded"),
    Attack("noise", "a 30 MB output line, a 100,000-line flood, stderr warnings inside test cells, and "
           "a 60 MB extra file",
           _edit("noise", Edit("regression_losses", "    return float(mse), float(mae)",
                               "    import sys\n    print('a warning from my code', file=sys.stderr)\n"
                               "    return float(mse), float(mae)"),
                 Edit("updates_per_epoch", "UPDATES_PER_EPOCH = math.ceil(N_TRAIN / BATCH_SIZE)",
                      "print('x' * 30_000_000)\nfor _i in range(100_000):\n    print(_i)\n"
                      "UPDATES_PER_EPOCH = math.ceil(N_TRAIN / BATCH_SIZE)")),
           frozenset(), "output cut", "stores the 30 MB line; a stderr line in a test cell scores 0",
           extras={"big_data.bin": 60 * 2**20}),
    Attack("tampered_tests", "deletes one test cell, edits one, duplicates one and moves one to the top",
           None, frozenset(), "", "restores deleted and edited cells; the rest varies"),
    Attack("corrupt_notebook", "a notebook file that is not JSON", None,
           frozenset({"ALL"}), "could not be read", "the batch reports an error; no feedback"),
    Attack("renamed_notebook", "the notebook saved under another name",
           _edit("renamed_notebook"), frozenset(), "graded as", "skips it: no grade, no feedback",
           filename="compile_and_train (copy).ipynb"),
    Attack("broken_keras", "overwrites the saved dropout model with junk bytes",
           _edit("broken_keras", Edit("save_models", "saved = {BASELINE_PATH",
                                      "open(DROPOUT_PATH, 'wb').write(b'junk')\nsaved = {BASELINE_PATH")),
           frozenset({"test_save_best"}), "not a readable Keras 3 .keras file",
           "the in-kernel test fails on load, as it should"),
)


def _tampered(reference):
    nb = nbformat.from_dict(reference)
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
    nb.cells.remove(by_id["test_compile_loss"])                               # deleted
    by_id["test_build_structure"].source = "pass  # nothing to see"            # edited
    position = nb.cells.index(by_id["test_dropout_form"])
    copy = nbformat.from_dict(by_id["test_dropout_form"])
    copy.id = "duplicated-test-cell"
    nb.cells.insert(position, copy)                                            # duplicated
    nb.cells.remove(by_id["test_save_form"])
    nb.cells.insert(0, by_id["test_save_form"])                                # moved to the top
    return nb


def build(attack, reference, context):
    """The submission as notebook text, ready to write."""
    if attack.name == "corrupt_notebook":
        return '{"cells": [ {"this is not": JSON'
    if attack.name == "tampered_tests":
        return nbformat.writes(_tampered(reference))
    edits = tuple(Edit(e.cell, e.old, e.new.replace("{escape}", _ESCAPE.format(**context)))
                  for e in attack.change.edits)
    return nbformat.writes(apply(reference, Change(attack.name, "attack", edits)))
