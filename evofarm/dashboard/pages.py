"""The dashboard's HTML pages: small shells the package's script fills from the API.

Every value that reaches HTML here is escaped; the script builds the rest of
each page with DOM calls (``textContent``), never with HTML from the API.
"""

from __future__ import annotations

from html import escape


def _page(title: str, body: str, *, script: bool = True) -> str:
    tail = '<script src="/static/dashboard.js"></script>' if script else ""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title>"
        "<link rel='stylesheet' href='/static/style.css'></head>"
        f"<body><header><a href='/'>evofarm</a> <span>{escape(title)}</span></header>"
        f"<main>{body}</main>{tail}</body></html>"
    )


def login(*, next_path: str, failed: bool) -> str:
    """The login form (styled inline: the stylesheet itself needs the token)."""
    note = "<p class='error' id='login-error'>That token is not valid.</p>" if failed else ""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<title>evofarm dashboard: log in</title>"
        "<style>body{font-family:sans-serif;max-width:28em;margin:4em auto}"
        "input{font-size:1em;padding:.3em;width:100%;box-sizing:border-box}"
        "button{margin-top:.6em;font-size:1em}.error{color:#b00}</style></head><body>"
        "<h1>evofarm dashboard</h1><p>Paste the dashboard token (printed by "
        "<code>evofarm dashboard</code>, or <code>EVOFARM_DASHBOARD_TOKEN</code>).</p>"
        f"{note}<form method='post' action='/login'>"
        f"<input type='hidden' name='next' value='{escape(next_path, quote=True)}'>"
        "<input type='password' name='token' id='token' autocomplete='current-password' "
        "placeholder='token' autofocus><button type='submit' id='login'>Log in</button>"
        "</form></body></html>"
    )


def campaigns() -> str:
    """The campaigns list (filled and refreshed by the script)."""
    body = (
        "<h1>Campaigns</h1><p id='fleet' class='muted'></p>"
        "<table id='campaigns'><thead><tr><th>campaign</th><th>status</th>"
        "<th>generation</th><th>best</th><th>eval/s</th><th>evaluations</th>"
        "<th>tokens</th><th>USD</th><th>workers</th><th>queues</th></tr></thead>"
        "<tbody></tbody></table><p id='empty' class='muted' hidden>No campaigns yet: "
        "<code>evofarm run pipelines/campaigns/demo.yaml</code> starts one.</p>"
    )
    return _page("campaigns", body).replace("<body>", "<body data-page='campaigns'>", 1)


def campaign(campaign_id: str) -> str:
    """One campaign's page (filled and refreshed by the script)."""
    cid = escape(campaign_id, quote=True)
    body = f"""
<h1 id="title">{escape(campaign_id)}</h1>
<section id="summary" class="figures"></section>
<section id="anomalies"></section>
<section class="controls"><h2>Control</h2>
  <button id="stop">Stop after this generation</button>
  <button id="kill" class="danger">Kill now</button>
  <span id="control-result" class="muted"></span>
  <div id="approval"><h3>Approval</h3><p id="approval-state"></p>
  <div id="approval-controls" hidden>
    <input id="approval-note" type="text" maxlength="2000"
      placeholder="note (a rejection needs one)">
    <button id="approve">Approve and deploy</button>
    <button id="reject" class="danger">Reject</button>
  </div><span id="approval-result" class="muted"></span></div>
</section>
<section><h2>Fitness trend</h2><div id="trend" class="chart"></div></section>
<section class="split"><div><h2>Genealogy</h2>
  <p class="muted">Columns are generations; click a genome.</p>
  <div id="lineage" class="chart"></div></div>
  <div id="genome"><h2>Genome</h2><p class="muted">Pick a genome in the graph.</p></div>
</section>
<section><h2>Operators</h2><table id="operators"><thead><tr><th>operator</th>
  <th>attempts</th><th>valid-child rate</th><th>evaluated children</th>
  <th>improvement rate</th><th>invalid</th><th>no-op</th></tr></thead><tbody></tbody></table>
</section>
<section><h2>Resource use</h2><div id="resources" class="chart"></div></section>
<section class="split"><div><h2>Failure museum</h2><div id="museum"></div></div>
  <div><h2>Innovation gallery</h2><table id="gallery"><thead><tr><th>generation</th>
  <th>genome</th><th>step</th><th>new pattern</th><th>operator</th><th>fitness</th></tr>
  </thead><tbody></tbody></table></div></section>
"""
    page = _page(campaign_id, body)
    return page.replace("<body>", f"<body data-page='campaign' data-campaign='{cid}'>", 1)
