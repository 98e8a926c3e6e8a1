"""Jupyter's kernel conformance suite (jupyter_kernel_test) run against the `transfusion` kernel.

    cd kernel/conformance && /usr/bin/python3 -m unittest -v test_transfusion_kernel

It starts the kernel named `transfusion` from the Jupyter paths: the installed one (`npm run kernel:install`),
or the one on JUPYTER_PATH, which is how test/kernel/jupyter.test.ts runs it against a fresh build.
Needs Debian's python3-jupyter-kernel-test and python3-jupyter-client (or `pip install jupyter_kernel_test`).

Not exercised, because the kernel does not offer them: pager payloads (`code_page_something`).
"""
import unittest

import jupyter_kernel_test


class TransfusionKernelTests(jupyter_kernel_test.KernelTests):
    kernel_name = "transfusion"
    language_name = "typescript"
    file_extension = ".ts"

    code_hello_world = "console.log('hello, world')"
    code_stderr = "console.error('to stderr')"

    # A cell's last value: text/plain is its util.inspect text; an object with toMimeBundle() gives its bundle.
    code_execute_result = [
        {"code": "6 * 7", "result": "42"},
        {"code": "'tensor'", "result": "'tensor'"},
        {"code": "[1, 2, 3].map((x) => x * 2)", "result": "[ 2, 4, 6 ]"},
        {
            "code": "({ toMimeBundle: () => ({ data: { 'text/html': '<b>lab</b>' } }) })",
            "mime": "text/html",
            "result": "<b>lab</b>",
        },
    ]

    code_display_data = [
        # tslab's own display API, one MIME type at a time.
        {"code": "import { display } from 'tslab';\ndisplay.html('<b>hi</b>')", "mime": "text/html"},
        # The hook the lab's display() calls, with a whole bundle.
        {
            "code": "(globalThis as any)[Symbol.for('transfusion.kernel')].display({ data: { 'image/svg+xml': '<svg/>', 'text/plain': 'svg' } })",
            "mime": "image/svg+xml",
        },
    ]

    code_generate_error = "throw new Error('boom')"

    # The lab's clearOutput() (src/viz/display.ts) through the same hook.
    code_clear_output = "(globalThis as any)[Symbol.for('transfusion.kernel')].clearOutput(false)"

    completion_samples = [
        {"text": "Math.ab", "matches": {"abs"}},
        {"text": "const lengthOfTheRun = 3;\nlengthOfThe", "matches": {"lengthOfTheRun"}},
    ]

    complete_code_samples = ["1 + 1", "const x = [1, 2];", "for (const i of [1]) {\n  console.log(i);\n}", "await Promise.resolve(1)"]
    incomplete_code_samples = ["function f() {", "const x = [1,", "if (true)"]
    invalid_code_samples = ["1 +* 2", "const = 3;", ")"]

    code_inspect_sample = "Math.abs"

    # History: tail, range and glob search over this session; the pattern matches one code sample above.
    supported_history_operations = ("tail", "range", "search")
    code_history_pattern = "'tens*"


if __name__ == "__main__":
    unittest.main()
