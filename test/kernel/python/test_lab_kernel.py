"""What the lab needs from its kernel beyond Jupyter's conformance suite, checked through jupyter_client.

Run by test/kernel/lab-kernel.test.ts (JUPYTER_PATH pointing at a kernelspec for the fresh build). The kernel
starts in an empty temporary folder, outside the lab, so every import of 'transfusion-lab' here proves the
any-folder resolution, at run time and in the type checker.
"""
import shutil
import tempfile
import time
import unittest
from queue import Empty

from jupyter_client.manager import start_new_kernel

TIMEOUT = 60
INTERRUPT_MODULE = "transfusion-lab/dist/src/engine/interrupt"


class LabKernelTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cwd = tempfile.mkdtemp(prefix="transfusion-notebook-")
        cls.km, cls.kc = start_new_kernel(kernel_name="transfusion", cwd=cls.cwd, startup_timeout=TIMEOUT)

    @classmethod
    def tearDownClass(cls):
        cls.kc.stop_channels()
        cls.km.shutdown_kernel(now=True)
        shutil.rmtree(cls.cwd, ignore_errors=True)

    def send(self, code, **kwargs):
        return self.kc.execute(code, **kwargs)

    def collect(self, msg_id, timeout=TIMEOUT):
        """The reply to msg_id and the IOPub messages it caused (without status), in order."""
        outputs = []
        deadline = time.time() + timeout
        while True:
            msg = self.kc.get_iopub_msg(timeout=max(0.1, deadline - time.time()))
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "status":
                if msg["content"]["execution_state"] == "idle":
                    break
                continue
            outputs.append(msg)
        while True:
            reply = self.kc.get_shell_msg(timeout=max(0.1, deadline - time.time()))
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply["content"], outputs

    def run_cell(self, code, **kwargs):
        return self.collect(self.send(code, **kwargs))

    def result_text(self, code):
        reply, outputs = self.run_cell(code)
        self.assertEqual(reply["status"], "ok", reply)
        results = [m["content"] for m in outputs if m["msg_type"] == "execute_result"]
        self.assertEqual(len(results), 1, outputs)
        return results[0]["data"]["text/plain"]

    def wait_for_stdout(self, msg_id, text):
        """Block until the cell msg_id printed `text`: its code is running, not being compiled.

        A SIGINT that lands while tslab compiles a cell is lost, and one that lands in the microseconds in which
        Node's vm.runInThisContext(breakOnSigint) swaps SIGINT handlers around a cell's synchronous part kills the
        process (Node installs its exit-on-SIGINT handler before it re-adds the listeners; kernel/README.md), so
        the tests interrupt only code that is running, never right at the edge of a synchronous part.
        """
        while True:
            msg = self.kc.get_iopub_msg(timeout=TIMEOUT)
            if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream" and text in msg["content"]["text"]:
                return

    # --- module resolution from a folder outside the lab ---------------------------------------------------

    def test_lab_subpath_imports_and_type_checks_from_any_folder(self):
        self.assertEqual(self.result_text("process.cwd()"), repr(self.cwd).replace('"', "'"))
        self.assertEqual(
            self.result_text(f"import {{ interruptRequested }} from '{INTERRUPT_MODULE}';\ntypeof interruptRequested()"),
            "'boolean'",
        )
        # The checker sees the lab's declarations, not `any`: a wrong type is a compile error naming them.
        reply, outputs = self.run_cell(f"import {{ interruptRequested as ir }} from '{INTERRUPT_MODULE}';\nconst s: string = ir();")
        self.assertEqual(reply["status"], "error")
        self.assertEqual(reply["ename"], "TSError")
        self.assertIn("'boolean' is not assignable to type 'string'", reply["evalue"])
        # Its dependencies resolve from here as well, and console/process type-check without a node_modules.
        self.assertEqual(self.result_text("import * as tf from '@tensorflow/tfjs';\ntf.tensor([1, 2, 3]).shape"), "[ 3 ]")

    def test_lab_package_entry_imports_and_type_checks_from_any_folder(self):
        self.assertEqual(self.result_text("import { interruptRequested as fromEntry } from 'transfusion-lab';\nfromEntry()"), "false")
        reply, _ = self.run_cell("import { interruptRequested as typed } from 'transfusion-lab';\nconst n: number = typed();")
        self.assertEqual(reply["ename"], "TSError")
        self.assertIn("'boolean' is not assignable to type 'number'", reply["evalue"])

    def test_cells_share_the_preloaded_lab(self):
        # The flag a cell raises through its import is the kernel's: the cell ends as interrupted...
        reply, _ = self.run_cell(f"import {{ requestInterrupt as raise_ }} from '{INTERRUPT_MODULE}';\nraise_();")
        self.assertEqual((reply["status"], reply["ename"]), ("error", "Interrupted"))
        # ...and the kernel lowers it when the next cell starts.
        self.assertEqual(
            self.result_text(f"import {{ interruptRequested as asked }} from '{INTERRUPT_MODULE}';\nasked()"),
            "false",
            "the kernel lowers the flag when each cell starts",
        )

    def test_cells_are_type_checked_strictly_without_a_tsconfig(self):
        # The kernel runs in an empty temporary folder: no tsconfig.json above it, so the lab's default (strict).
        reply, _ = self.run_cell("function implicitAny(x) { return x; }")
        self.assertEqual(reply["ename"], "TSError")
        self.assertIn("Parameter 'x' implicitly has an 'any' type", reply["evalue"])
        msg_id = self.kc.kernel_info()
        while True:
            info = self.kc.get_shell_msg(timeout=TIMEOUT)
            if info["parent_header"].get("msg_id") == msg_id:
                break
        self.assertIn("cells: type-checked with strict (the default", info["content"]["banner"])

    def test_shorthand_properties_see_earlier_cells(self):
        # tslab alone throws "shortA is not defined" for `{ shortA }` in a later cell (kernel/shorthand.ts).
        reply, _ = self.run_cell(
            "const shortA = 3;\nlet shortB = 'b';\nfunction shortF() { return 1; }\nimport * as shortLab from 'transfusion-lab';"
        )
        self.assertEqual(reply["status"], "ok", reply)
        self.assertEqual(
            self.result_text("const both = { shortA, shortB, f: shortF() };\nJSON.stringify({ ...both, lab: typeof ({ shortLab }).shortLab.initEngine })"),
            '\'{"shortA":3,"shortB":"b","f":1,"lab":"function"}\'',
        )
        # A compiler error after a rewritten shorthand is reported at the column the user typed.
        code = "({ shortA }); const wrong: string = 1;"
        reply, _ = self.run_cell(code)
        self.assertEqual(reply["ename"], "TSError")
        self.assertTrue(reply["evalue"].startswith(f"1:{code.index('wrong') + 1} - "), reply["evalue"])

    # --- rich output ---------------------------------------------------------------------------------------

    def test_execute_result_carries_the_whole_bundle(self):
        reply, outputs = self.run_cell(
            "class Plot { toMimeBundle() { return { data: { 'text/html': '<b>p</b>', 'application/json': { a: 1 } }, "
            "metadata: { 'text/html': { isolated: true } } }; } }\nnew Plot()"
        )
        self.assertEqual(reply["status"], "ok")
        (result,) = [m["content"] for m in outputs if m["msg_type"] == "execute_result"]
        self.assertEqual(result["execution_count"], reply["execution_count"])
        self.assertEqual(result["data"], {"text/html": "<b>p</b>", "application/json": {"a": 1}, "text/plain": "<Plot: text/html, application/json>"})
        self.assertEqual(result["metadata"], {"text/html": {"isolated": True}})
        self.assertEqual([m["msg_type"] for m in outputs], ["execute_input", "execute_result"])

    def test_display_hook_sends_bundles_and_updates_by_id(self):
        reply, outputs = self.run_cell(
            "const hook = (globalThis as any)[Symbol.for('transfusion.kernel')];\n"
            "hook.display({ data: { 'text/plain': 'step 1', 'text/html': '<i>1</i>' }, metadata: { 'text/html': { isolated: true } } }, { displayId: 'loss' });\n"
            "hook.display({ data: { 'text/plain': 'step 2' } }, { displayId: 'loss', update: true });"
        )
        self.assertEqual(reply["status"], "ok")
        shown = [(m["msg_type"], m["content"]) for m in outputs if m["msg_type"] != "execute_input"]
        self.assertEqual(
            shown,
            [
                ("display_data", {"data": {"text/plain": "step 1", "text/html": "<i>1</i>"}, "metadata": {"text/html": {"isolated": True}}, "transient": {"display_id": "loss"}}),
                ("update_display_data", {"data": {"text/plain": "step 2"}, "metadata": {}, "transient": {"display_id": "loss"}}),
            ],
        )
        reply, _ = self.run_cell("(globalThis as any)[Symbol.for('transfusion.kernel')].display({ data: {} }, { update: true })")
        self.assertEqual(reply["status"], "error")
        self.assertIn("needs opts.displayId", reply["evalue"])

    # --- protocol replies tslab gets wrong -----------------------------------------------------------------

    def test_comm_info_reply(self):
        msg_id = self.kc.comm_info()
        while True:
            reply = self.kc.get_shell_msg(timeout=TIMEOUT)
            if reply["parent_header"]["msg_id"] == msg_id:
                break
        self.assertEqual(reply["msg_type"], "comm_info_reply")
        self.assertEqual(reply["content"], {"status": "ok", "comms": {}})

    def test_kernel_info_reports_status_and_engine(self):
        msg_id = self.kc.kernel_info()
        while True:
            reply = self.kc.get_shell_msg(timeout=TIMEOUT)
            if reply["parent_header"]["msg_id"] == msg_id:
                break
        content = reply["content"]
        self.assertEqual(content["status"], "ok")
        self.assertEqual(content["implementation"], "transfusion")
        self.assertIn("engine: ", content["banner"])

    def test_error_aborts_the_cells_queued_behind_it(self):
        failing = self.send("throw new RangeError('bad step')")
        queued = self.send("'must not run'")
        reply, outputs = self.collect(failing)
        self.assertEqual((reply["status"], reply["ename"], reply["evalue"]), ("error", "RangeError", "bad step"))
        (error,) = [m["content"] for m in outputs if m["msg_type"] == "error"]
        self.assertEqual(error["ename"], "RangeError")
        self.assertFalse(any("node:vm" in line for line in error["traceback"]), error["traceback"])
        reply, outputs = self.collect(queued)
        self.assertEqual(reply["status"], "aborted")
        self.assertEqual(outputs, [])
        self.assertEqual(self.result_text("'runs again'"), "'runs again'")

    # --- interrupts (KernelManager.interrupt_kernel sends SIGINT: interrupt_mode 'signal') -------------------

    def test_interrupt_stops_a_polling_loop_at_a_step_boundary(self):
        loop = self.send(
            f"import {{ interruptRequested as stop }} from '{INTERRUPT_MODULE}';\n"
            "let steps = 0;\n"
            "console.log('looping');\n"
            "while (!stop()) {\n"
            "  steps++;\n"
            "  await new Promise((resolve) => setImmediate(resolve));\n"
            "}"
        )
        self.wait_for_stdout(loop, "looping")
        time.sleep(0.5)
        self.km.interrupt_kernel()
        reply, _ = self.collect(loop)
        self.assertEqual((reply["status"], reply["ename"]), ("error", "Interrupted"))
        # The next cell sees the state the loop reached, and the loop is no longer running.
        steps = int(self.result_text("steps"))
        self.assertGreater(steps, 0)
        time.sleep(0.3)
        self.assertEqual(int(self.result_text("steps")), steps)

    def test_interrupt_stops_train_at_a_step_boundary_and_leaves_it_usable(self):
        setup, _ = self.run_cell(
            "import * as lab from 'transfusion-lab';\n"
            "await lab.initEngine();\n"
            "const model = lab.Transfusion.create('mnist', { net: { transformer: { dModel: 32, nLayers: 1, nHeads: 2, ffnHidden: 64 } } });\n"
            "const batches = new lab.DataLoader(new lab.MnistDataset({ size: 16 }), { batchSize: 2, sequence: { length: 96 } }).batches();\n"
            "const trainer = new lab.Trainer(model, lab.makeTrainConfig());"
        )
        self.assertEqual(setup["status"], "ok", setup)
        loop = self.send(
            "const result = await trainer.run(() => model.loss(batches.next().value!), "
            "{ steps: 1000000, onStep: (r) => { if (r.step === 1) console.log('training'); } });"
        )
        self.wait_for_stdout(loop, "training")
        time.sleep(0.5)
        self.km.interrupt_kernel()
        reply, _ = self.collect(loop)
        self.assertEqual((reply["status"], reply["ename"]), ("error", "Interrupted"))
        # Stopped between two steps: every finished step is in the history, and the optimiser agrees.
        steps = int(self.result_text("trainer.step"))
        self.assertGreater(steps, 1)
        self.assertEqual(self.result_text("trainer.history.length === trainer.step && trainer.optimizer.step === trainer.step"), "true")
        # Model, optimiser and data stream keep working in the next cell.
        self.assertEqual(
            self.result_text(
                "const more = trainer.trainStep(() => model.loss(batches.next().value!));\n"
                f"more.step === {steps} && Number.isFinite(more.loss) && trainer.step === {steps + 1}"
            ),
            "true",
        )

    def test_second_interrupt_abandons_a_cell_that_does_not_poll(self):
        # The marker comes from a timer, so it is printed after the cell's synchronous part has returned from
        # Node's vm: a SIGINT that lands while vm puts the kernel's SIGINT listener back kills the process (see
        # wait_for_stdout), and a marker printed inside that part invites exactly that timing.
        stuck = self.send("setTimeout(() => console.log('waiting'), 0);\nawait new Promise(() => {})")
        self.wait_for_stdout(stuck, "waiting")
        self.km.interrupt_kernel()
        # The first interrupt only raises the flag this cell never polls: no reply to it within a second
        # (replies still queued from earlier tests' cells are not this cell's and are skipped).
        with self.assertRaises(Empty):
            while self.kc.get_shell_msg(timeout=1.0)["parent_header"].get("msg_id") != stuck:
                pass
        self.km.interrupt_kernel()
        reply, _ = self.collect(stuck)
        self.assertEqual((reply["status"], reply["evalue"]), ("error", "Interrupted asynchronously"))
        self.assertEqual(self.result_text("1 + 1"), "2")

    def test_interrupt_breaks_synchronous_code(self):
        busy = self.send("const until = Date.now() + 30000;\nconsole.log('spinning');\nwhile (Date.now() < until) {}")
        self.wait_for_stdout(busy, "spinning")
        self.km.interrupt_kernel()
        reply, _ = self.collect(busy)
        self.assertEqual(reply["status"], "error")
        self.assertIn("interrupted", reply["evalue"])
        self.assertEqual(self.result_text("2 + 2"), "4")


if __name__ == "__main__":
    unittest.main()
