"""A task's page: what was asked, its outcome and budget, the waterfall across both clouds, each step's
calls with their results, its approvals, its trace in both clouds' tools, and its audit log."""

from __future__ import annotations

import json
from typing import Any

from agentcage.approvals import Principal
from agentcage.console.layout import budget_gauges, page, when
from agentcage.console.links import TraceLinks
from agentcage.console.markup import Html, join, render, url_part
from agentcage.console.views import TaskDetail, requester_label
from agentcage.console.waterfall import Waterfall
from agentcage.ledger.models import ApprovalRecord, AuditEvent, BudgetState

__all__ = ["task_page"]

_MAX_EVENT_CHARS = 2000

_FACTS = """<dl class="facts">
<dt>State</dt><dd><span class="state state-{state}">{state}</span></dd>
<dt>Agent</dt><dd>{agent}</dd>
<dt>Requester</dt><dd>{requester}</dd>
<dt>Environment</dt><dd>{environment}</dd>
<dt>Created</dt><dd>{created}</dd>
<dt>Updated</dt><dd>{updated}</dd>
<dt>Trace id</dt><dd><code class="trace-id">{trace_id}</code></dd>
</dl>
<h2>Request</h2>
<p class="untrusted request">{request}</p>
{outcome}
<h2>Budget</h2>
{budget}
"""


def _pretty(value: Any) -> str:
    return (
        value if isinstance(value, str) else json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    )


def _outcome(view: dict[str, Any]) -> Html:
    parts = []
    for key, label in (("final_answer", "Answer"), ("halt_reason", "Halted"), ("error", "Error")):
        if view.get(key):
            parts.append(
                render(
                    '<h2>{label}</h2><pre class="untrusted outcome">{text}</pre>',
                    label=label,
                    text=_pretty(view[key]),
                )
            )
    return join(parts)


def _waterfall(waterfall: Waterfall | None) -> Html:
    if waterfall is None or not waterfall.rows:
        return Html('<p class="empty">No tool call yet.</p>')
    rows = []
    for row in waterfall.rows:
        rects = join(
            render(
                '<rect class="hop hop-{name} cloud-{cloud}" x="{x:.3f}" y="0" width="{w:.3f}" height="10">'
                "<title>{name} ({cloud}): {ms:.0f} ms</title></rect>",
                name=hop.name,
                cloud=hop.cloud,
                x=waterfall.offset(hop.start),
                w=max(0.4, waterfall.offset(hop.end) - waterfall.offset(hop.start)),
                ms=hop.milliseconds,
            )
            for hop in row.hops
        )
        times = join(
            (
                render(
                    '<span class="hop-time cloud-{cloud}">{name} {ms:.0f} ms</span>',
                    name=h.name,
                    cloud=h.cloud,
                    ms=h.milliseconds,
                )
                for h in row.hops
            ),
            " → ",
        )
        rows.append(
            render(
                '<tr><td class="call">step {step} · <code>{tool}</code> '
                '<span class="muted">{outcome}</span></td>'
                '<td class="bar"><svg viewBox="0 0 100 10" preserveAspectRatio="none" role="img" '
                'aria-label="hops of {tool}">{rects}</svg></td><td class="times">{times}</td></tr>',
                step="-" if row.step is None else row.step,
                tool=row.tool,
                outcome=row.outcome,
                rects=rects,
                times=times or Html('<span class="muted">not sent</span>'),
            )
        )
    span_ms = (waterfall.end - waterfall.start).total_seconds() * 1000
    return render(
        '<p class="legend"><span class="swatch cloud-azure"></span> Azure (coordinator) '
        '<span class="swatch cloud-aws"></span> AWS (queue, executor) '
        '<span class="swatch cloud-person"></span> a person · the whole task: {span:.0f} ms</p>'
        '<table class="waterfall"><thead><tr><th>Call</th><th>thought → decision → reservation → queue → '
        "execution → result</th><th>Each hop</th></tr></thead><tbody>{rows}</tbody></table>",
        span=span_ms,
        rows=join(rows),
    )


def _steps(view: dict[str, Any]) -> Html:
    blocks = []
    for step in view.get("steps") or []:
        calls = join(
            render(
                '<tr><td><code>{tool}</code></td><td><pre class="untrusted">{args}</pre></td>'
                '<td>{outcome}</td><td><pre class="untrusted result">{result}</pre></td></tr>',
                tool=call.get("tool"),
                args=_pretty(call.get("arguments")),
                outcome=call.get("outcome"),
                result=_pretty(call.get("result")) if call.get("result") is not None else "(no result yet)",
            )
            for call in step.get("calls") or []
        )
        blocks.append(
            render(
                '<section class="step"><h3>Step {n}</h3>'
                '<p class="untrusted thought">{text}</p>{calls}</section>',
                n=step.get("step"),
                text=step.get("text") or "",
                calls=render(
                    '<table class="calls"><thead><tr><th>Tool</th><th>Arguments</th><th>Outcome</th>'
                    "<th>Result</th></tr></thead><tbody>{rows}</tbody></table>",
                    rows=calls,
                )
                if calls
                else Html(""),
            )
        )
    return join(blocks) or Html('<p class="empty">No step has run yet.</p>')


def _approvals(approvals: tuple[ApprovalRecord, ...], base: str) -> Html:
    if not approvals:
        return Html('<p class="empty">No approval was asked for.</p>')
    return render(
        '<ul class="approvals">{items}</ul>',
        items=join(
            render(
                '<li><a href="{href}"><code>{tool}</code></a> <span class="status-{status}">{status}</span>'
                "{by}</li>",
                href=f"{base}/approvals/{url_part(a.approval_id)}",
                tool=a.tool,
                status=a.status.value,
                by=f" by {a.approver}" if a.approver else "",
            )
            for a in approvals
        ),
    )


def _links(links: TraceLinks | None) -> Html:
    if links is None:
        return Html('<p class="empty">The task has no trace id.</p>')
    anchors = [
        (links.xray_url, "X-Ray trace in CloudWatch"),
        (links.cloudwatch_url, "CloudWatch Logs Insights query"),
        (links.app_insights_url, "Application Insights query"),
    ]
    shown = join(
        (
            render(
                '<a href="{href}" rel="noreferrer noopener" target="_blank">{label}</a>', href=h, label=lbl
            )
            for h, lbl in anchors
            if h
        ),
        " · ",
    )
    return render(
        "<p>{shown}</p>"
        '<p class="muted">X-Ray trace id <code>{xray}</code>. Links appear when the AWS region and the '
        "Application Insights resource are configured; the queries work anywhere.</p>"
        "<h3>CloudWatch Logs Insights (the Lambdas' log groups)</h3><pre>{cw}</pre>"
        "<h3>Application Insights (KQL)</h3><pre>{kql}</pre>",
        shown=shown or Html('<span class="muted">no console configured</span>'),
        xray=links.xray_trace_id,
        cw=links.cloudwatch_query,
        kql=links.kql_query,
    )


def _audit(events: tuple[AuditEvent, ...]) -> Html:
    rows = []
    for event in events:
        data = json.dumps(event.data, sort_keys=True, ensure_ascii=False, default=str)
        if len(data) > _MAX_EVENT_CHARS:
            data = data[:_MAX_EVENT_CHARS] + "…"
        rows.append(
            render(
                "<tr><td>{seq}</td><td>{at}</td><td>{step}</td><td><code>{kind}</code></td>"
                '<td><code class="untrusted event-data">{data}</code></td></tr>',
                seq=event.seq,
                at=event.at.strftime("%H:%M:%S.%f")[:-3],
                step="" if event.step is None else event.step,
                kind=event.kind,
                data=data,
            )
        )
    return render(
        '<details class="audit"><summary>{n} audit events</summary>'
        "<table><thead><tr><th>#</th><th>Time (UTC)</th>"
        "<th>Step</th><th>Event</th><th>Data</th></tr></thead><tbody>{rows}</tbody></table></details>",
        n=len(events),
        rows=join(rows),
    )


def task_page(detail: TaskDetail, principal: Principal, base: str) -> bytes:
    """The whole task page."""
    task, view = detail.task, detail.view
    content = join(
        (
            render(
                _FACTS,
                state=task.state.value,
                agent=task.agent_id,
                requester=requester_label(task),
                environment=task.environment,
                created=when(task.created_at),
                updated=when(task.updated_at),
                trace_id=view.get("trace_id") or "—",
                request=task.request,
                outcome=_outcome(view),
                budget=budget_gauges(BudgetState.of(task)),
            ),
            render("<h2>Timeline across both clouds</h2>{w}", w=_waterfall(detail.waterfall)),
            render("<h2>Approvals</h2>{a}", a=_approvals(detail.approvals, base)),
            render("<h2>Steps</h2>{s}", s=_steps(view)),
            render("<h2>Trace</h2>{l}", l=_links(detail.links)),
            render("<h2>Audit log</h2>{a}", a=_audit(detail.events)),
        )
    )
    return page(f"Task {task.task_id}", content, base=base, principal=principal, section="tasks")
