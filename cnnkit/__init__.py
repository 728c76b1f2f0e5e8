"""What a student's environment needs for the "Compile and Train a CNN" notebook.

``cnnkit.data`` loads CIFAR-10 and makes the seeded training/validation split;
``cnnkit.budget`` says how much each context trains. Nothing here grades. The grader
(``cnnkit_grader/``) is a package of its own: students' images install it beside this one
(pyproject.toml), so that the source notebook's hidden tests run in Jupyter too; it holds
rules, not solutions. The kit's own tooling (``cnnkit_tools/``) is never installed.
"""

__version__ = "0.2.0"
