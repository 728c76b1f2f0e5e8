"""No active content reaches an instructor's or a student's browser.

nbgrader's formgrader and feedback render the autograded notebook as HTML on the formgrader's
origin, where the instructor is logged in. A ``<script>``, an ``onerror=`` attribute, a
``javascript:`` link or a JavaScript output from a student's notebook would run there. This
is nbconvert's own ``SanitizeHTML`` preprocessor (bleach), with two choices of ours:

- an output that has a plain-text version (a pandas table, any rich repr) keeps only that,
  so no HTML of the student's is rendered where text will do;
- the allowed tags add paragraphs, line breaks, preformatted text and headings to bleach's
  small default set. Anything else is escaped, so the instructor sees it as text.

JavaScript outputs, widgets, SVG and every other MIME type that is not plain text, LaTeX,
JSON or a PNG/JPEG image are removed; markdown and raw cells are sanitised.
"""

from nbconvert.preprocessors.sanitize import SanitizeHTML
from traitlets import List, Unicode

RICH_TEXT = ("text/html", "text/markdown")


class SanitizeOutputs(SanitizeHTML):
    tags = List(Unicode(), default_value=[
        "a", "abbr", "acronym", "b", "blockquote", "br", "code", "em", "h1", "h2", "h3", "h4", "h5", "h6",
        "i", "li", "ol", "p", "pre", "strong", "sub", "sup", "ul"]).tag(config=True)

    def sanitize_code_outputs(self, outputs):
        for output in outputs:
            data = output.get("data")
            if isinstance(data, dict) and "text/plain" in data:
                for key in RICH_TEXT:
                    data.pop(key, None)
        return super().sanitize_code_outputs(outputs)

    def preprocess(self, nb, resources):
        nb.metadata.pop("widgets", None)  # saved widget state makes nbconvert load its JavaScript
        return super().preprocess(nb, resources)
