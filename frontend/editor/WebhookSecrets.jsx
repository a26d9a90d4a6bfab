// A webhook trigger's signing secrets: which exist (number, created, valid until), a rotation
// that shows the new value once, and a reveal of a secret still accepted. Secrets are stored
// encrypted (agents.secrets), so a reveal is possible; the server records each one in the audit
// log and only admins and designers may ask.
import { useState } from "react";
import { CopyButton, when } from "./triggerParts.jsx";

// How long older secrets stay accepted after a rotation (the senders' time to switch).
const OVERLAPS = [
  [0, "not at all: they stop now"],
  [3600, "1 hour"],
  [86400, "1 day"],
  [604800, "7 days"],
];

function standing(secret, now) {
  if (!secret.expires_at) return { valid: true, words: "valid, no expiry" };
  const valid = new Date(secret.expires_at) > now;
  return { valid, words: `${valid ? "valid until" : "expired"} ${when(secret.expires_at)}` };
}

function ShownSecret({ shown, onHide }) {
  const issued = shown.how === "issued";
  return (
    <div className="callout callout-note small trigger-shown" data-shown-secret={shown.number} data-how={shown.how}>
      <p>
        {issued
          ? <>New secret <strong>#{shown.number}</strong>, shown once: store it in the sending system now.</>
          : <>Secret <strong>#{shown.number}</strong>; this reveal is recorded in the audit log.</>}
      </p>
      <label htmlFor="trigger-secret-value" className="visually-hidden">Secret #{shown.number}</label>
      <input id="trigger-secret-value" type="text" className="mono" readOnly value={shown.value} />
      <CopyButton text={shown.value} label="Copy secret" />
      {issued && (
        <p data-previous-valid-until={shown.previousValidUntil || ""}>
          {shown.previousValidUntil
            ? `Older secrets stay valid until ${when(shown.previousValidUntil)}.`
            : "There was no earlier secret."}
        </p>
      )}
      <p>The curl command below signs with it.</p>
      <button type="button" className="btn btn-small" onClick={onHide}>Hide the secret</button>
    </div>
  );
}

export function WebhookSecrets({ slug, secrets, readOnly, api, shown, onShown, onChanged }) {
  const [overlap, setOverlap] = useState(86400);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const act = async (work) => {
    setBusy(true);
    setError(null);
    try {
      await work();
    } catch (e) {
      setError(e.message);
    } finally {
      setBusy(false);
    }
  };
  const rotate = () => act(async () => {
    const issued = await api.secretRotate(slug, overlap);
    onShown({ number: issued.number, value: issued.secret, how: "issued", previousValidUntil: issued.previous_valid_until });
    onChanged();
  });
  const reveal = (number) => act(async () => {
    const revealed = await api.secretReveal(slug, number);
    onShown({ number: revealed.number, value: revealed.secret, how: "revealed" });
  });
  const now = new Date();
  return (
    <section className="trigger-secrets" aria-labelledby="trigger-secrets-heading">
      <h3 id="trigger-secrets-heading">Signing secrets</h3>
      {secrets.length === 0 ? (
        <p className="small" data-secrets="none">No signing secret yet: the URL refuses every request until one is issued.</p>
      ) : (
        <ul className="trigger-secret-list small">
          {secrets.map((secret) => {
            const { valid, words } = standing(secret, now);
            return (
              <li key={secret.number} data-secret={secret.number} data-valid={valid ? "true" : "false"}>
                <span><strong>#{secret.number}</strong> · created {when(secret.created_at)} · {words}</span>
                {!readOnly && valid && (
                  <button type="button" className="btn btn-small" disabled={busy} onClick={() => reveal(secret.number)}
                    aria-label={`Reveal secret ${secret.number}`}>Reveal</button>
                )}
              </li>
            );
          })}
        </ul>
      )}
      {!readOnly && (
        <div className="trigger-rotate">
          <label htmlFor="trigger-overlap" className="small">Older secrets stay valid for</label>
          <select id="trigger-overlap" value={overlap} onChange={(e) => setOverlap(Number(e.target.value))}
            aria-describedby="trigger-rotate-help">
            {OVERLAPS.map(([seconds, words]) => <option key={seconds} value={seconds}>{words}</option>)}
          </select>
          <button type="button" className="btn btn-small" disabled={busy} onClick={rotate}>
            {secrets.length ? "Rotate secret" : "Issue a secret"}
          </button>
          <span id="trigger-rotate-help" className="field-note">
            Issues a new secret; the sender signs with it from now on, older ones keep working for the time chosen.
          </span>
        </div>
      )}
      {error && <p className="field-problem">{error}</p>}
      {shown && <ShownSecret shown={shown} onHide={() => onShown(null)} />}
      {!readOnly && (
        <p className="field-note">Secrets are stored encrypted: one still valid can be revealed again, and each reveal is audited.</p>
      )}
    </section>
  );
}
