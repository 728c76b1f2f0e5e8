"""The environment a process that trains the lesson's network should start with.

glibc's malloc gives each thread that meets contention an arena of its own, up to eight per
core, and keeps what is freed in it. TensorFlow's thread pools allocate and free every batch's
tensors from several threads, so a kernel that trains the notebook's seven models ends up
holding freed memory in a dozen arenas. Two arenas (one per core of the machines the kit is
sized for) keep it: the solved notebook's kernel peaked at 1,209 MiB against 1,343 at the
student budget, with no slower training (docs/speed.md, "A student's kernel").

glibc reads this only as a process starts (``mallopt`` from an imported module comes too late:
TensorFlow's threads already have their arenas), so it is set where the kit starts processes:
the sandbox's kernel, probe and measurement (``cnnkit_grader.boundary.sandbox``), the course
hub's servers and so every student's kernel (``hub.settings``), and the kit's benchmarks of a
student's kernel. It changes no result: the allocator decides where memory is, not what is in it.
"""

KERNEL_ENV = {"MALLOC_ARENA_MAX": "2"}
