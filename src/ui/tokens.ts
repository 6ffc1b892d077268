// Tokens: the JSON API's Bearer tokens (name, scope, hint, created, last used), a form that
// creates one and shows it once, and Revoke per row (hx-confirm; a plain post without JS gets a
// confirmation step first).
import { html, type Html } from "./html.ts";
import { formatAgo, formatTime } from "./format.ts";
import { csrfField, noticeBox, page } from "./layout.ts";
import { actionButton } from "./parts.ts";
import type { Notice, PageContext, TokenView } from "./view.ts";

const TARGET = "#tokens";
/** The form's maxlength; the server's TokenName schema is what decides. */
const NAME_CHARS_MAX = 64;

export interface TokensData {
  tokens: TokenView[];
  csrfToken: string;
  nowMs: number;
  /** The outcome of the last action (revoke), as on the other pages. */
  notice: Notice | null;
  /** A token just created: its only showing. */
  created: { name: string; scope: string; token: string } | null;
  /** A refused create: one line, shown under the form, which keeps what was typed. */
  formError: string | null;
  form: { name: string; scope: string };
  /** A plain Revoke post without confirmation (no JS): the name to confirm. */
  confirmRevoke: string | null;
}

export function emptyTokensForm(): Pick<TokensData, "created" | "formError" | "form" | "confirmRevoke"> {
  return { created: null, formError: null, form: { name: "", scope: "read" }, confirmRevoke: null };
}

function createdBox(created: NonNullable<TokensData["created"]>): Html {
  return html`<article class="new-token" role="status">
<p><strong>Token ${created.name} created</strong> (scope ${created.scope}). Copy it now: <strong>it will not be shown again</strong>; the cache-host keeps only its hash.</p>
<p class="secret"><code class="copy-value" id="new-token">${created.token}</code><button type="button" class="copy secondary outline" data-copy="${created.token}" title="copy the token">copy</button></p>
<p><small>Send it as <code>Authorization: Bearer wc_…</code>, or give it to the CLI as <code>WITHCACHE_TOKEN</code>.</small></p>
</article>`;
}

function confirmBox(name: string, csrfToken: string): Html {
  return html`<article class="confirm" role="alertdialog" aria-labelledby="confirm-revoke">
<p id="confirm-revoke"><strong>Revoke token ${name}?</strong> Scripts using it are refused (401) at once; this cannot be undone.</p>
<form method="post" action="/admin/tokens/revoke" class="inline">${csrfField(csrfToken)}<input type="hidden" name="name" value="${name}"><input type="hidden" name="confirm" value="yes"><button type="submit" class="secondary outline danger">Revoke ${name}</button></form>
<a href="/admin/tokens">Cancel</a>
</article>`;
}

function createForm(data: TokensData): Html {
  const scopes = [
    { scope: "read", label: "read: GET requests only" },
    { scope: "admin", label: "admin: everything" },
  ].map((s) => html`<option value="${s.scope}"${s.scope === data.form.scope ? html` selected` : null}>${s.label}</option>`);
  const invalid = data.formError === null ? null : html` aria-invalid="true" aria-describedby="token-error"`;
  return html`<form method="post" action="/admin/tokens/create" class="token-create" hx-post="/admin/tokens/create" hx-target="${TARGET}" hx-swap="outerHTML">
${csrfField(data.csrfToken)}
<label>Name <input type="text" id="token-name" name="name" value="${data.form.name}" maxlength="${NAME_CHARS_MAX}" required placeholder="ci-bot" autocomplete="off" spellcheck="false"${invalid}></label>
<label>Scope <select name="scope" id="token-scope">${scopes}</select></label>
<button type="submit">Create token</button>
</form>
${data.formError === null ? null : html`<p class="notice notice-error" id="token-error" role="alert">${data.formError}</p>`}`;
}

function row(t: TokenView, data: TokensData): Html {
  return html`<tr data-token="${t.name}">
<td class="primary"><strong class="token-name">${t.name}</strong></td>
<td data-label="Scope"><span class="badge scope-${t.scope}">${t.scope}</span></td>
<td data-label="Hint"><code>${t.hint}</code></td>
<td data-label="Created"><span title="${formatTime(t.createdAtMs)}">${formatAgo(t.createdAtMs, data.nowMs)}</span></td>
<td data-label="Last used">${t.lastUsedMs === null ? html`<span class="muted">never</span>` : html`<span title="${formatTime(t.lastUsedMs)}">${formatAgo(t.lastUsedMs, data.nowMs)}</span>`}</td>
<td class="actions">${actionButton({
    action: "/admin/tokens/revoke",
    target: TARGET,
    csrfToken: data.csrfToken,
    label: "Revoke",
    style: "danger",
    fields: { name: t.name },
    confirm: `Revoke token ${t.name}? Scripts using it are refused at once.`,
    hxVals: { confirm: "yes" },
  })}</td>
</tr>`;
}

export function tokensSection(data: TokensData): Html {
  const list =
    data.tokens.length === 0
      ? html`<div class="empty"><p><strong>No tokens.</strong></p><p>Create one above for a script, or with <code>withcache token create NAME</code>.</p></div>`
      : html`<div class="table-wrap"><table class="rows striped" id="tokens-table">
<thead><tr><th>Name</th><th>Scope</th><th>Hint</th><th>Created</th><th>Last used</th><th><span class="visually-hidden">Actions</span></th></tr></thead>
<tbody>${data.tokens.map((t) => row(t, data))}</tbody>
</table></div>`;
  return html`<section id="tokens">
<hgroup><h2>API tokens</h2><p>Bearer tokens for <code>/api/v1</code>, <code>/metrics</code> and the <code>withcache</code> CLI. Scope read may only GET; admin may do everything. Last use is recorded about once a minute.</p></hgroup>
${noticeBox(data.notice)}
${data.confirmRevoke === null ? null : confirmBox(data.confirmRevoke, data.csrfToken)}
${data.created === null ? null : createdBox(data.created)}
${createForm(data)}
${list}
</section>`;
}

export function tokensPage(ctx: PageContext, data: Omit<TokensData, "csrfToken" | "nowMs" | "notice">): Html {
  return page({ title: "Tokens", current: "tokens", ctx, body: tokensSection({ ...data, csrfToken: ctx.csrfToken, nowMs: ctx.nowMs, notice: ctx.notice }) });
}
