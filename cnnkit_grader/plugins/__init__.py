"""What nbgrader loads: the preprocessors of autograde and feedback, the exchange, and
``nbgrader validate``'s self-check. They call the boundary and the judge; nothing below calls them."""
