// Module hooks that do under node what the page's import map does in the browser: specifiers
// named in the map (JSON in the FOCUS_IMPORT_MAP environment variable) load from where it says.

export async function resolve(specifier, context, nextResolve) {
  const map = JSON.parse(process.env.FOCUS_IMPORT_MAP ?? "{}");
  if (Object.hasOwn(map, specifier)) return { url: map[specifier], shortCircuit: true };
  return nextResolve(specifier, context);
}
