// ESLint for the editor island (frontend/): the recommended JavaScript rules, React's (JSX with
// the automatic runtime, so no React import in scope), and the Rules of Hooks with the React
// Compiler's checks. `make lint` runs it with no warning allowed.
import js from "@eslint/js";
import react from "eslint-plugin-react";
import reactHooks from "eslint-plugin-react-hooks";
import globals from "globals";

export default [
  { ignores: ["node_modules/", "static/", ".venv/", ".data/"] },
  {
    files: ["frontend/**/*.{js,jsx}"],
    ...js.configs.recommended,
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      parserOptions: { ecmaFeatures: { jsx: true } },
      globals: { ...globals.browser },
    },
  },
  { files: ["frontend/**/*.{js,jsx}"], ...react.configs.flat.recommended },
  { files: ["frontend/**/*.{js,jsx}"], ...react.configs.flat["jsx-runtime"] },
  { files: ["frontend/**/*.{js,jsx}"], ...reactHooks.configs.flat.recommended },
  {
    files: ["frontend/**/*.{js,jsx}"],
    settings: { react: { version: "19.3" } },
    rules: {
      // Props are documented by JSDoc and checked by TypeScript (tsconfig.json), not PropTypes.
      "react/prop-types": "off",
      "no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", ignoreRestSiblings: true }],
    },
  },
  {
    // Unit tests of the pure modules and their doubles run under Node (`node --test frontend/`).
    files: ["frontend/**/*.test.js", "frontend/**/testing.js"],
    languageOptions: { globals: { ...globals.node } },
  },
];
