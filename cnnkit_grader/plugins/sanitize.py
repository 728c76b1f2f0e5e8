r"""No active content reaches an instructor's or a student's browser.

nbgrader's formgrader and feedback render the autograded notebook as HTML on the formgrader's
origin, where the instructor is logged in. A ``<script>``, an ``onerror=`` attribute, a
``javascript:`` link or a JavaScript output from a student's notebook would run there. This
is nbconvert's own ``SanitizeHTML`` preprocessor (bleach), switched on, run after ``ScoreOutside`` (what follows it writes only
grades and metadata), with these choices of ours:

- an output that has a plain-text version (a pandas table, any rich repr) keeps only that, so
  no HTML of the student's is rendered where text will do; output metadata keeps only numeric
  image sizes (nbconvert writes them into ``<img>`` unquoted);
- a markdown or raw cell is rendered to HTML as nbconvert would render it and cleaned there, so
  markdown's own links (``[x](javascript:...)``, ``<javascript:...>``, reference links, entity
  spellings) are caught as well as raw HTML. The cleaned HTML is stored *inert*: the formgrader
  and the feedback render a markdown cell again (nbgrader's templates: ``markdown2html``), and
  cleaned text such as ``[x](javascript:...)`` would become a link the second time. So it is
  stored as one line that starts with ``<div``: a CommonMark HTML block, which every later
  render passes through verbatim (newlines become ``&#10;``, which HTML reads as the same
  character). Cleaning is idempotent: a block stored this way, whose HTML is already clean,
  is kept as it is when feedback cleans the autograded notebook again. Only a cell that renders
  clean *and* holds none of ``< > & [ ] \`` (the
  characters links and markup are made of, at any depth of rendering) keeps its markdown;
- a ``text/markdown`` output with no plain-text version becomes cleaned ``text/html``, which
  the templates insert as it is and never render as markdown again;
- the allowed tags add paragraphs, line breaks, preformatted text, headings and tables to
  bleach's small default set; links may point to http(s) and mail only. Anything else is
  escaped, so the instructor sees it as text.

JavaScript outputs, widgets, SVG and every other MIME type that is not plain text, LaTeX,
JSON or a PNG/JPEG image are removed. It runs after ``ScoreOutside``, so the grader's own notes
(which quote file names the student chose) are cleaned too.
"""

import re

import bleach
from nbconvert.filters.markdown_mistune import markdown2html_mistune
from nbconvert.preprocessors.sanitize import SanitizeHTML
from traitlets import Bool, List, Unicode

RICH_TEXT = ("text/html", "text/markdown")
MARKUP = re.compile(r"[<>&\[\]\\]")   # what links, autolinks, entities, raw HTML and escapes are made of
INERT_OPEN, INERT_CLOSE = '<div class="cnnkit-sanitized">', "</div>"
INERT = INERT_OPEN + "{}" + INERT_CLOSE  # a CommonMark HTML block, passed through by markdown
PROTOCOLS = ("http", "https", "mailto")
IMAGE_SIZES = ("width", "height")


def _numeric_sizes(metadata):
    """Output metadata as nbconvert would use it, reduced to numeric image sizes."""
    kept = {}
    for mime, value in (metadata or {}).items():
        if isinstance(value, dict):
            sizes = {k: v for k, v in value.items() if k in IMAGE_SIZES
                     and isinstance(v, (int, float)) and not isinstance(v, bool)}
            if sizes:
                kept[mime] = sizes
    return kept


def inert(html):
    """Cleaned HTML that renders as itself however many times it is rendered as markdown again."""
    return INERT.format(html.replace("\r", "&#13;").replace("\n", "&#10;"))


class SanitizeOutputs(SanitizeHTML):
    enabled = Bool(True).tag(config=True)
    tags = List(Unicode(), default_value=[
        "a", "abbr", "acronym", "b", "blockquote", "br", "code", "em", "h1", "h2", "h3", "h4", "h5", "h6",
        "hr", "i", "li", "ol", "p", "pre", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead",
        "tr", "ul"]).tag(config=True)

    def sanitize_html_tags(self, html_str):
        return bleach.clean(html_str, tags=self.tags, attributes=self.attributes, protocols=PROTOCOLS,
                            strip=self.strip, strip_comments=self.strip_comments)

    def _clean_markdown(self, source):
        """The markdown rendered as nbconvert renders it, then cleaned: safe HTML for one display."""
        return self.sanitize_html_tags(markdown2html_mistune(source))

    def _already_inert(self, source):
        """Whether the source is one inert block that cleaning would leave as it is: what an
        earlier pass stored (autograde cleans, then feedback cleans the same notebook again).
        A block a student typed passes only if its HTML is already clean."""
        if not (source.startswith(INERT_OPEN) and source.endswith(INERT_CLOSE)) or "\n" in source or "\r" in source:
            return False
        # What inert() encoded, decoded: the cleaned HTML as the earlier pass had it (bleach
        # itself is not idempotent on a table whose newlines are written as &#10;).
        held = source[len(INERT_OPEN):-len(INERT_CLOSE)].replace("&#10;", "\n").replace("&#13;", "\r")
        return self.sanitize_html_tags(held) == held

    def _sanitize_markdown(self, source):
        if self._already_inert(source):
            return source   # cleaned by an earlier pass: wrapping it again would show its <div> as text
        rendered = markdown2html_mistune(source)
        cleaned = self.sanitize_html_tags(rendered)
        if cleaned == rendered and not MARKUP.search(source):
            return source   # plain prose: the student's markdown as they wrote it
        return inert(cleaned)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type in ("markdown", "raw"):
            cell.source = self._sanitize_markdown(cell.source)
            cell.pop("attachments", None)
            return cell, resources
        return super().preprocess_cell(cell, resources, index)

    def sanitize_code_outputs(self, outputs):
        for output in outputs:
            data = output.get("data")
            if isinstance(data, dict) and "text/plain" in data:
                for key in RICH_TEXT:
                    data.pop(key, None)
            elif isinstance(data, dict) and "text/markdown" in data:
                markdown = data.pop("text/markdown")
                data["text/html"] = self._clean_markdown(markdown if isinstance(markdown, str) else str(markdown))
            if "metadata" in output:
                output["metadata"] = _numeric_sizes(output["metadata"])
        return super().sanitize_code_outputs(outputs)

    def preprocess(self, nb, resources):
        nb.metadata.pop("widgets", None)  # saved widget state makes nbconvert load its JavaScript
        return super().preprocess(nb, resources)
