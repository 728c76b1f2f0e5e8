"""A Jupyter kernel manager that starts the student's kernel inside the sandbox.

The sandbox has no network, not even the host's loopback, so the kernel talks to nbgrader
over ZeroMQ's ``ipc`` transport: Unix sockets in a private folder bound into the sandbox.
Interrupts go as messages on the control channel, because a signal to the sandbox's
process group would first reach bubblewrap.
"""

from pathlib import Path

from jupyter_client.manager import AsyncKernelManager

from cnnkit_grader.boundary import files, sandbox


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
