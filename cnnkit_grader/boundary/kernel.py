"""A Jupyter kernel manager that starts the student's kernel inside the sandbox.

The sandbox has no network, not even the host's loopback, so the kernel talks to nbgrader
over ZeroMQ's ``ipc`` transport: Unix sockets in a private folder bound into the sandbox.
Interrupts go as messages on the control channel, because a signal to the sandbox's
process group would first reach bubblewrap.
"""

from pathlib import Path

import zmq
import zmq.asyncio
from jupyter_client.manager import AsyncKernelManager
from traitlets import default

from cnnkit_grader.boundary import files, sandbox

# The largest ZeroMQ message frame the grader takes from the kernel. ZeroMQ reads a frame's
# length before its bytes and closes the connection instead of receiving a longer one, so a
# cell that prints a gigabyte costs the grader nothing. The connection does not come back: the
# cell's output stops reaching the grader, which stops the kernel (execute.py says why). The
# kit's own flood attack prints a 30 MB line, which passes and is cut to the output cap; an
# honest notebook's largest message, a plot, is about 100 kB.
MAX_MESSAGE_BYTES = 64 * 2**20
MAX_MESSAGE_MB = MAX_MESSAGE_BYTES // 2**20


class SandboxedKernelManager(AsyncKernelManager):
    work_dir = None  # the folder the kernel may write: a scratch copy of this submission only
    slot = None      # the submission's sandbox slot (its own user, as root)
    runtime_dir = None  # the submission's sized tmpfs for sockets and the connection file

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._own_runtime = self.runtime_dir is None
        self._runtime = (sandbox.private_folder(self.slot, "cnnkit-kernel-") if self._own_runtime
                         else Path(self.runtime_dir))
        self.transport = "ipc"
        self.ip = str(self._runtime / "kernel")
        self.connection_file = str(self._runtime / "kernel.json")

    @default("context")
    def _context_default(self):
        self._created_context = True  # so the manager destroys it when the kernel is cleaned up
        context = zmq.asyncio.Context()
        context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)  # a default for every socket it makes
        return context

    def client(self, **kwargs):
        # The client's channels (shell, iopub, stdin, control, heartbeat) take their sockets from
        # the manager's context, so every socket facing the kernel has the frame limit.
        kwargs.setdefault("context", self.context)
        return super().client(**kwargs)

    def format_kernel_cmd(self, extra_arguments=None):
        argv = super().format_kernel_cmd(extra_arguments)
        sandbox.give(self._runtime, self.slot)  # the kernel reads the connection file and makes its sockets here
        writable = [self._runtime] + ([Path(self.work_dir)] if self.work_dir else [])
        return sandbox.command(argv, self.slot, writable=writable, cwd=self.work_dir)

    async def _async_interrupt_kernel(self):
        if self.has_kernel:
            self.kernel_spec.interrupt_mode = "message"
        await super()._async_interrupt_kernel()

    interrupt_kernel = _async_interrupt_kernel

    async def _async_cleanup_resources(self, restart=False):
        await super()._async_cleanup_resources(restart=restart)
        if not restart and self._own_runtime:
            files.remove_tree(self._runtime, self.log)  # never raises: a deep tree fails no submission

    cleanup_resources = _async_cleanup_resources
