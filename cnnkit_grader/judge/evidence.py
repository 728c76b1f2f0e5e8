"""The evidence record: everything a rule may look at, as plain data.

Rules never see a live object of the student's. They see:

- ``fresh``: the inputs the trusted side drew (``fresh.draw``) and gave the probe;
- ``answers``: what each collector returned (JSON numbers and strings), by answer name. They
  are untrusted, so the accessors here check type and shape before a rule reads them;
- ``models``: every model file, read as JSON by ``modelfile`` and measured by ``inside.measure``
  in a process that runs no student code;
- ``heldout_labels``: the labels of the held-out images, which never leave the trusted side;
- ``fault`` and ``not_run``: what stopped the notebook, and which graded cells it kept from running.
"""

from dataclasses import dataclass, field

import cnnkit_grader.inside.names as names


class Fail(Exception):
    """A failed verdict: ``failure`` names which failure (stable, for reports), ``message`` what to fix,
    ``measured`` any figures the report may show (e.g. the held-out accuracy)."""

    def __init__(self, failure, message, measured=None):
        super().__init__(message)
        self.failure, self.message, self.measured = failure, message, measured


@dataclass
class Model:
    config: dict = None      # config.json, accepted by modelfile's allowlist
    rejected: str = None     # why modelfile refused the file
    measured: dict = None    # what inside.measure reported, or {"error": ...}


@dataclass
class Evidence:
    budget: object
    threshold: float = None
    fresh: dict = field(default_factory=dict)
    answers: dict = field(default_factory=dict)   # answer name -> {"values": {...}} | {"error": str}
    models: dict = field(default_factory=dict)    # model name -> Model
    heldout_labels: object = None
    fault: str = None
    not_run: frozenset = frozenset()

    def values(self, answer):
        """The answer's values; Fail when the notebook never produced them."""
        record = self.answers.get(answer)
        if record is None:
            raise Fail("any.no_answer", f"Not run: {self.fault}." if self.fault else
                       "the grader received no answer for this test: run the notebook top to bottom "
                       "without errors before submitting.")
        if not isinstance(record, dict):
            raise Fail("any.no_answer", "the grader could not read the answer for this test.")
        if not isinstance(record.get("values"), dict):
            raise Fail("any.raised", f"the code this test needs raised {str(record.get('error', 'an error'))[:300]}; "
                                     "fix that first.")
        return record["values"]

    def config(self, name, what):
        """A model file's config alone: what a rule of layers needs, even when the file does not load
        (a broken network Part A charged must not cost the layer rules that only read the config)."""
        model = self.models.get(name)
        if model is None:
            raise Fail("any.model_missing", f"{what} could not be saved for grading.")
        if model.rejected:
            raise Fail("any.model_unsafe", f"{what}: {model.rejected}")
        if not isinstance(model.config, dict):
            raise Fail("any.model_unmeasured", f"{what} could not be read by the grader.")
        return model.config

    def model(self, name, what):
        """(config, measured) of a model file; Fail when it is missing, unsafe or does not load."""
        model = self.models.get(name)
        if model is None:
            raise Fail("any.model_missing", f"{what} could not be saved for grading.")
        if model.rejected:
            raise Fail("any.model_unsafe", f"{what}: {model.rejected}")
        measured = model.measured
        if not isinstance(measured, dict):
            raise Fail("any.model_unmeasured", f"{what} could not be measured by the grader.")
        if "error" in measured:
            raise Fail("any.model_unloadable", f"{what} does not load with "
                                               f"keras.saving.load_model(safe_mode=True): {measured['error']}")
        return model.config, measured


def saved(values, key, what):
    """A collector's note that it saved a model: "saved", else what the object was."""
    if values.get(key) != names.SAVED:
        raise Fail("any.not_a_model", f"{what} should be a keras.Model; it is {str(values.get(key))[:100]}.")


def numbers(values, key):
    """values[key] as a list of floats, or None when it is not a list of plain numbers."""
    items = values.get(key)
    if not isinstance(items, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                              for v in items):
        return None
    return [float(v) for v in items]
