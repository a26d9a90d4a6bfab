// The webhook trigger: the flow's URL, its signing secrets (WebhookSecrets.jsx) and a signed
// curl command that sends the sample input (curl.js).
import { useState } from "react";
import { CopyButton } from "./triggerParts.jsx";
import { WebhookSecrets } from "./WebhookSecrets.jsx";
import { SECRET_VARIABLE, sampleBody, signedCurl } from "./curl.js";

// Whether the URL starts runs now: only a live version whose trigger is a webhook answers 202.
function liveNote(info, saved) {
  if (!saved.live) return "No version is live: the URL answers 409 until you publish one.";
  if (info.type !== "webhook") {
    return `The live version (v${saved.live}) starts runs by ${info.type}: the URL answers 404 until you publish this webhook trigger.`;
  }
  return `Each signed POST of a JSON object starts a run of the live version (v${saved.live}) with that input.`;
}

function CurlCommand({ url, sample, secret }) {
  const { body, ok } = sampleBody(sample);
  const command = signedCurl({ url, body, secret: secret?.value });
  return (
    <div className="field">
      <label htmlFor="trigger-curl">Send a test request (signed curl command)</label>
      <textarea id="trigger-curl" className="mono trigger-curl" readOnly rows={command.split("\n").length}
        value={command} spellCheck={false} aria-describedby="trigger-curl-help" />
      <CopyButton text={command} label="Copy curl command" />
      <span id="trigger-curl-help" className="field-note">
        Sends {ok ? "the sample input" : "{} (the sample input is not a JSON object)"}, signed when the
        command runs: t is the time, v1 the HMAC-SHA256 of “t.body” with{" "}
        {secret ? `secret #${secret.number}` : <>the secret in <code>${SECRET_VARIABLE}</code> (rotate or reveal to put it in the command)</>}.
        Needs sh, openssl and curl.
      </span>
    </div>
  );
}

export function WebhookFields({ slug, saved, trigger, readOnly, api, sample }) {
  const [shown, setShown] = useState(null);
  if (!saved.version) {
    return <p className="small" data-trigger-note="unsaved">Save the flow to get its URL and a signing secret.</p>;
  }
  if (trigger.error) return <p className="field-problem">{trigger.error}</p>;
  if (!trigger.info) return <p className="muted small">Loading the webhook…</p>;
  const url = trigger.info.urls?.webhook || trigger.info.url;
  return (
    <>
      <div className="field">
        <label htmlFor="trigger-webhook-url">Webhook URL</label>
        <input id="trigger-webhook-url" type="text" className="mono" readOnly value={url}
          aria-describedby="trigger-webhook-url-help" />
        <CopyButton text={url} label="Copy URL" />
        <span id="trigger-webhook-url-help" className="field-note" data-live-type={trigger.info.type}>
          {liveNote(trigger.info, saved)}
        </span>
      </div>
      <WebhookSecrets slug={slug} secrets={trigger.info.secrets || []} readOnly={readOnly} api={api}
        shown={shown} onShown={setShown} onChanged={trigger.reload} />
      <CurlCommand url={url} sample={sample} secret={shown} />
    </>
  );
}
