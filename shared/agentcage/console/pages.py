"""The console's list pages: pending approvals (and one approval), tasks, circuits, and error pages."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from agentcage.approvals import Principal
from agentcage.console.layout import budget_gauges, countdown, page, when
from agentcage.console.markup import Html, join, render, url_part
from agentcage.console.views import ApprovalCard, CircuitRow, PendingApprovals, requester_label
from agentcage.ledger.models import ApprovalStatus, BudgetState, TaskRecord

__all__ = ["approval_page", "approvals_page", "circuits_page", "error_page", "tasks_page"]

_CARD = """<article class="approval" id="approval-{anchor}">
<h2><code>{tool}</code> <span class="muted">proposed by</span> {agent}</h2>
<dl class="facts">
<dt>Requester</dt><dd>{requester}</dd>
<dt>Task</dt><dd><a href="{task_href}">{task_id}</a> <span class="state state-{state}">{state}</span></dd>
<dt>The model's stated intent</dt><dd class="untrusted">{intent}</dd>
<dt>Why a person must decide</dt><dd><ul class="reasons">{reasons}</ul></dd>
<dt>Deciding policies</dt><dd>{policies}</dd>
<dt>Arguments digest</dt><dd><code class="digest">{digest}</code></dd>
<dt>Expires</dt><dd>{expiry} <span class="muted">({expires_at})</span></dd>
<dt>Budget</dt><dd>{budget}</dd>
</dl>
<h3>Exact arguments</h3>
<pre class="arguments untrusted">{arguments}</pre>
{decision}
</article>
"""

_FORM = """<form class="decision" method="post" action="{action}" data-digest="{digest}">
<label for="comment-{anchor}">Comment (optional)</label>
<textarea id="comment-{anchor}" name="comment" maxlength="2000" rows="2"></textarea>
<div class="buttons">
<button type="submit" name="decision" value="approve" class="approve">Approve</button>
<button type="submit" name="decision" value="deny" class="deny">Deny</button>
</div>
<p class="muted">You decide as {who}. The coordinator re-checks the policy with your roles ({roles}) when
you click: a call that needs another role is refused, and the reason is shown here.</p>
<output class="outcome" role="status" aria-live="polite"></output>
<noscript><p class="warning">Deciding needs JavaScript: this page's script sends the decision.</p>
</noscript>
</form>
"""


def _decision_block(card: ApprovalCard, principal: Principal, base: str, now: datetime) -> Html:
    approval = card.approval
    anchor = url_part(approval.approval_id)
    if approval.status is not ApprovalStatus.PENDING:
        by = f" by {approval.approver}" if approval.approver else ""
        comment = f": “{approval.comment}”" if approval.comment else ""
        return render(
            '<p class="decided status-{status}">This approval was {status}{by}{comment}. '
            "It can no longer be decided.</p>",
            status=approval.status.value,
            by=by,
            comment=comment,
        )
    if approval.expires_at <= now:
        return Html('<p class="decided status-expired">This approval has expired; nobody can decide it.</p>')
    if card.task.state.is_final:
        return render(
            '<p class="decided">The task is {state}; its approvals can no longer be decided.</p>',
            state=card.task.state.value,
        )
    if card.refusal is not None:
        return render(
            '<p class="refusal" role="note">You may not decide this approval. {why}</p>', why=card.refusal
        )
    return render(
        _FORM,
        action=f"{base}/approvals/{anchor}/decision",
        digest=approval.args_digest,
        anchor=anchor,
        who=principal.name,
        roles=", ".join(principal.roles) or "none",
    )


def approval_card(card: ApprovalCard, principal: Principal, base: str, now: datetime) -> Html:
    """One approval: what, why, for whom, until when, and the buttons (or why there are none)."""
    approval = card.approval
    return render(
        _CARD,
        anchor=url_part(approval.approval_id),
        tool=approval.tool,
        agent=approval.agent_id,
        requester=requester_label(card.task),
        task_href=f"{base}/tasks/{url_part(card.task.task_id)}",
        task_id=card.task.task_id,
        state=card.task.state.value,
        intent=card.intent or "(the model said nothing)",
        reasons=join(render("<li>{r}</li>", r=reason) for reason in approval.reasons)
        or Html("<li>policy requires a human decision</li>"),
        policies=join((render("<code>{p}</code>", p=p) for p in approval.policies), " ") or "—",
        digest=approval.args_digest,
        expiry=countdown(approval.expires_at, now),
        expires_at=approval.expires_at.isoformat(),
        budget=budget_gauges(card.budget),
        arguments=card.arguments_json,
        decision=_decision_block(card, principal, base, now),
    )


_CUT = """<p class="notice">Only the {scanned} newest tasks waiting for an approval were read for this page;
older ones have pending approvals that are not listed here. Open those from their notice's link or from
<a href="{tasks_href}">the task list</a>.</p>
"""


def approvals_page(pending: PendingApprovals, principal: Principal, base: str, now: datetime) -> bytes:
    """The landing page: every pending approval the person may see (saying so when the scan was cut)."""
    if pending.cards:
        content = join(approval_card(card, principal, base, now) for card in pending.cards)
    else:
        content = Html('<p class="empty">No approval is waiting for you.</p>')
    if pending.cut:
        content = join([render(_CUT, scanned=pending.scanned, tasks_href=f"{base}/tasks"), content])
    return page("Pending approvals", content, base=base, principal=principal, section="approvals")


def approval_page(card: ApprovalCard, principal: Principal, base: str, now: datetime) -> bytes:
    """One approval's page (where the Slack and Teams notices link)."""
    content = approval_card(card, principal, base, now)
    return page(
        f"Approval of {card.approval.tool}", content, base=base, principal=principal, section="approvals"
    )


_TASK_ROW = """<tr>
<td><a href="{href}"><code>{task_id}</code></a></td>
<td><span class="state state-{state}">{state}</span></td>
<td>{agent}</td>
<td>{requester}</td>
<td>{created}</td>
<td>{budget}</td>
</tr>"""


def tasks_page(
    tasks: Sequence[tuple[TaskRecord, BudgetState]],
    principal: Principal,
    base: str,
    *,
    next_after: str | None,
) -> bytes:
    """The tasks the person may see, newest first, with a budget gauge each."""
    rows = join(
        render(
            _TASK_ROW,
            href=f"{base}/tasks/{url_part(task.task_id)}",
            task_id=task.task_id,
            state=task.state.value,
            agent=task.agent_id,
            requester=requester_label(task),
            created=when(task.created_at),
            budget=budget_gauges(budget, compact=True),
        )
        for task, budget in tasks
    )
    more = (
        render(
            '<p><a class="next" href="{href}">Older tasks</a></p>',
            href=f"{base}/tasks?after={url_part(next_after)}",
        )
        if next_after
        else Html("")
    )
    content = (
        render(
            '<table class="tasks"><thead><tr><th>Task</th><th>State</th><th>Agent</th><th>Requester</th>'
            "<th>Created</th><th>Budget</th></tr></thead><tbody>{rows}</tbody></table>{more}",
            rows=rows,
            more=more,
        )
        if tasks
        else Html('<p class="empty">No task to show.</p>')
    )
    return page("Tasks", content, base=base, principal=principal, section="tasks")


def circuits_page(rows: Sequence[CircuitRow], principal: Principal, base: str) -> bytes:
    """Each tool's circuit: closed, open (until when) or half-open."""
    body = join(
        render(
            '<tr><td><code>{tool}</code></td><td><span class="circuit circuit-{state}">{state}</span></td>'
            "<td>{failures}</td><td>{opened}</td><td>{retry}</td></tr>",
            tool=row.tool,
            state=row.state,
            failures=row.consecutive_failures,
            opened=when(row.opened_at),
            retry=when(row.retry_at),
        )
        for row in rows
    )
    content = render(
        '<table class="circuits"><thead><tr><th>Tool</th><th>Circuit</th><th>Consecutive failures</th>'
        "<th>Opened</th><th>Next trial call</th></tr></thead><tbody>{body}</tbody></table>",
        body=body,
    )
    return page("Circuits", content, base=base, principal=principal, section="circuits")


def error_page(
    status: int, title: str, message: str, *, base: str, principal: Principal | None, trace_id: str
) -> bytes:
    """An error as a page: what happened and the trace id that finds it in the logs."""
    content = render(
        '<p class="error-message">{message}</p>'
        '<p class="muted">HTTP {status} · trace id <code>{trace}</code></p>',
        message=message,
        status=status,
        trace=trace_id,
    )
    return page(title, content, base=base, principal=principal)
