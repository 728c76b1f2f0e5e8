"""The report notebook: ``template.ipynb``, whose cells read the CSV files ``collect.write`` puts beside it.

The template is a real notebook, edited in Jupyter: it imports only pandas, seaborn and
matplotlib, never the kit, and takes everything it shows from the data folder (the assignment,
the flag rules and the figures come from ``data/summary.json``). So an instructor can open the
executed ``report.ipynb`` in Jupyter, change a table or a plot, and re-run it anywhere the CSV
files are. Each plot is saved as a PNG beside the notebook and shown inline (embedded), so the
exported HTML page needs no other file.
"""

from pathlib import Path

import nbformat

TEMPLATE = Path(__file__).with_name("template.ipynb")


def notebook(assignment):
    """The unexecuted report notebook for ``assignment``."""
    nb = nbformat.read(str(TEMPLATE), as_version=4)
    nb.metadata["title"] = f"{assignment}: instructor report"
    return nb
