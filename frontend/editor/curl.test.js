import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { test } from "node:test";
import { SECRET_VARIABLE, sampleBody, shellQuote, signedCurl } from "./curl.js";

test("a shell word survives single quotes inside it", () => {
  const text = "it's \"$HOME\" `x`";
  assert.equal(execFileSync("sh", ["-c", `printf %s ${shellQuote(text)}`]).toString(), text);
});

test("the body is the sample input as compact JSON, or {} when it is not an object", () => {
  assert.deepEqual(sampleBody('{ "email": "a@x.test" }'), { body: '{"email":"a@x.test"}', ok: true });
  assert.deepEqual(sampleBody("[1]"), { body: "{}", ok: false });
  assert.deepEqual(sampleBody("{oops"), { body: "{}", ok: false });
});

test("the command signs t.body with the secret as the server checks it", () => {
  const body = '{"name":"O\'Brien"}';
  // Run the command with curl replaced by a function that prints the header it would send.
  const command = signedCurl({ url: "http://x.test/hook", body, secret: "whsec_1" })
    .replace(/^curl .*$/m, 'printf "%s\\n" "$T" "$SIG"; exit 0; \\');
  const [t, sig] = execFileSync("sh", ["-c", command]).toString().trim().split("\n");
  assert.equal(sig, createHmac("sha256", "whsec_1").update(`${t}.${body}`).digest("hex"));
});

test("without a secret the command reads it from the environment and stops when unset", () => {
  const command = signedCurl({ url: "http://x.test/hook", body: "{}" });
  assert.ok(command.includes(`\${${SECRET_VARIABLE}:?`));
  assert.throws(() => execFileSync("sh", ["-c", command], { env: { PATH: process.env.PATH }, stdio: "pipe" }));
});
