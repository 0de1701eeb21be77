// A node:test reporter that writes one JSON line per top-level test: its file, name and result
// (tests/test_web_js.py reads it to check that node ran every case pytest ran, none skipped).

export default async function* names(source) {
  for await (const event of source) {
    if ((event.type === "test:pass" || event.type === "test:fail") && event.data.nesting === 0) {
      const { file, name, skip, todo } = event.data;
      yield `${JSON.stringify({ file, name, ok: event.type === "test:pass", skip: Boolean(skip || todo) })}\n`;
    }
  }
}
