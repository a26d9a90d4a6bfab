// Words and templates as the forms show them. Pure.

/** A property name as words: "max_attempts" -> "Max attempts", "sampleOneIn" -> "Sample one in". */
export function readable(name) {
  const words = String(name).replace(/([a-z0-9])([A-Z])/g, "$1 $2").replace(/[_\-.]+/g, " ").trim().toLowerCase();
  return words ? words[0].toUpperCase() + words.slice(1) : String(name);
}

/**
 * As the engine sees it (agents/tools ``is_template``): text it renders, whose value is unknown
 * until the run.
 */
export function isTemplate(value) {
  return typeof value === "string" && /{{|{%/.test(value);
}
