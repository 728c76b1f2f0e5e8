"""What a student's environment needs for the "Compile and Train a CNN" notebook.

``cnnkit.data`` loads CIFAR-10 and makes the seeded training/validation split;
``cnnkit.budget`` says how much each context trains. Nothing here grades: the grader lives in
the course folder (``cnnkit_grader/``) and never in the package students install.
"""

__version__ = "0.2.0"
