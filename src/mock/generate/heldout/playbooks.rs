//! What each playbook of the held-out family's attacker does once the lure is opened.

use super::*;

pub(super) fn low_and_slow(
    b: &mut Builder,
    ctx: &Attack<'_>,
    trace: &mut Trace,
    activities: &mut Vec<StoredActivity>,
) {
    let days: Vec<DateTime<Utc>> = ctx.days().into_iter().filter(|d| weekday(*d)).collect();
    let mut visit = 0;
    let mut index = 0;
    while index < days.len() {
        let day = days[index];
        index += b.rng.usize(2..4);
        let time = ctx
            .owner
            .local(day, b.rng.i64(9..16), b.rng.i64(0..60))
            .max(ctx.start);
        let block = CITY_PROXIES[b.rng.usize(..CITY_PROXIES.len())];
        let proxy = address(&mut b.rng, block);
        let mut session = open(
            b,
            trace,
            time,
            &ctx.owner.upn,
            "Web",
            proxy,
            OWNER_BROWSER_UA,
            activities,
        );
        let mut t = time + Duration::minutes(1);
        if visit == 1 || visit == 4 {
            let term = if visit == 1 { "invoice" } else { "remittance" };
            let s = search(b, t, &mut session, term);
            trace.caused(&s);
            trace.truth.finance_search_ids.push(s.id.clone());
            trace.truth.finance_search_terms.push(term.to_string());
            activities.push(s);
        }
        for m in ctx.finance_before(t).into_iter().take(b.rng.usize(2..5)) {
            t += Duration::seconds(b.rng.i64(30..240));
            let r = read(b, t, &mut session, m);
            trace.caused(&r);
            trace.truth.finance_read_ids.push(r.id.clone());
            activities.push(r);
        }
        if visit == 5 {
            // The fraud: a reply to the vendor's latest invoice with new bank details, and the
            // vendor's answer deleted before the owner sees it.
            if let Some(m) = ctx.finance_before(t).first().copied() {
                t += Duration::minutes(3);
                let received = received_time_text(m.received);
                let reply = b.record(
                    t,
                    "Reply",
                    "Web",
                    Some(&mut session),
                    &m.item_id,
                    reply_props(m, &received),
                );
                trace.caused(&reply);
                let answer_time = t + Duration::minutes(b.rng.i64(40..120));
                let mut answer_records = Vec::new();
                let answer = deliver(
                    b,
                    answer_time,
                    ctx.owner,
                    &[],
                    &mut answer_records,
                    Some(("RE: Updated remittance details", VENDOR, "")),
                );
                activities.extend(answer_records);
                let mut later = open(
                    b,
                    trace,
                    answer_time + Duration::minutes(5),
                    &ctx.owner.upn,
                    "Web",
                    session.ip.clone(),
                    OWNER_BROWSER_UA,
                    activities,
                );
                let delete = b.record(
                    answer_time + Duration::minutes(6),
                    "Delete",
                    "Web",
                    Some(&mut later),
                    &answer.item_id,
                    vec![
                        ("DeleteType", "SoftDelete".into()),
                        ("SourceDefaultFolderType", "Inbox".into()),
                    ],
                );
                trace.caused(&delete);
                trace.truth.hidden_sent_item = HiddenItem {
                    item_id: answer.item_id.clone(),
                    sent_activity_id: reply.id.clone(),
                    move_activity_id: delete.id.clone(),
                    target_folder: "Recoverable Items".into(),
                };
                activities.push(reply);
                activities.push(delete);
            }
        }
        visit += 1;
    }
}

pub(super) fn read_only(
    b: &mut Builder,
    ctx: &Attack<'_>,
    trace: &mut Trace,
    activities: &mut Vec<StoredActivity>,
) {
    let servers = [address(&mut b.rng, (45, 77)), address(&mut b.rng, (45, 77))];
    for day in ctx.days() {
        if b.rng.u8(0..3) == 0 {
            continue;
        }
        // At night for the owner: the attacker's own working day.
        let time = ctx
            .owner
            .local(day, b.rng.i64(1..5), b.rng.i64(0..60))
            .max(ctx.start);
        let server = servers[b.rng.usize(..2)].clone();
        let mut session = open(
            b,
            trace,
            time,
            &ctx.owner.upn,
            "Web",
            server,
            SERVER_UA,
            activities,
        );
        let mut t = time;
        let before = ctx.finance_before(t);
        for m in before.into_iter().take(b.rng.usize(3..9)) {
            t += Duration::seconds(b.rng.i64(10..90));
            let r = read(b, t, &mut session, m);
            trace.caused(&r);
            trace.truth.finance_read_ids.push(r.id.clone());
            activities.push(r);
            t += Duration::seconds(b.rng.i64(5..60));
            let end = b.record(
                t,
                "ReadingPaneDisplayEnd",
                "Web",
                Some(&mut session),
                &m.item_id,
                vec![("IsConversation", "False".into())],
            );
            trace.caused(&end);
            activities.push(end);
        }
    }
}

pub(super) fn mobile_device(
    b: &mut Builder,
    ctx: &Attack<'_>,
    trace: &mut Trace,
    activities: &mut Vec<StoredActivity>,
) {
    // The device partnership is made once, behind a residential proxy; the device then syncs
    // every few hours through the same exit (a second exit after a week).
    let exits = [
        address(&mut b.rng, CITY_PROXIES[0]),
        address(&mut b.rng, CITY_PROXIES[2]),
    ];
    let mut time = ctx.start;
    let mut marked = 0;
    while time < ctx.spec.end - Duration::hours(6) {
        let exit = if time - ctx.start < Duration::days(7) {
            exits[0].clone()
        } else {
            exits[1].clone()
        };
        let mut session = open(
            b,
            trace,
            time,
            &ctx.owner.upn,
            "Mobile",
            exit,
            IOS_MAIL_EAS_UA,
            activities,
        );
        if marked < 6 && b.rng.u8(0..4) == 0 {
            if let Some(m) = ctx.finance_before(time).get(marked).copied() {
                let r = mark_read(b, time + Duration::minutes(2), &mut session, m);
                trace.caused(&r);
                trace.truth.finance_read_ids.push(r.id.clone());
                activities.push(r);
                marked += 1;
            }
        }
        time += Duration::minutes(b.rng.i64(120..480));
    }
}

pub(super) fn same_isp(
    b: &mut Builder,
    ctx: &Attack<'_>,
    trace: &mut Trace,
    activities: &mut Vec<StoredActivity>,
) {
    let ip = address(&mut b.rng, ctx.network.isp[0]);
    let days = ctx.days();
    let visits: Vec<DateTime<Utc>> = days.iter().step_by(2).take(5).copied().collect();
    for (n, day) in visits.iter().enumerate() {
        let time = ctx
            .owner
            .local(*day, b.rng.i64(19..23), b.rng.i64(0..60))
            .max(ctx.start);
        let mut session = open(
            b,
            trace,
            time,
            &ctx.owner.upn,
            "Web",
            ip.clone(),
            FIREFOX_UA,
            activities,
        );
        let mut t = time + Duration::minutes(1);
        if n == 0 {
            for term in ["bank details", "wire"] {
                t += Duration::seconds(b.rng.i64(20..90));
                let s = search(b, t, &mut session, term);
                trace.caused(&s);
                trace.truth.finance_search_ids.push(s.id.clone());
                trace.truth.finance_search_terms.push(term.to_string());
                activities.push(s);
            }
        }
        for m in ctx.finance_before(t).into_iter().take(3) {
            t += Duration::seconds(b.rng.i64(30..200));
            let r = read(b, t, &mut session, m);
            trace.caused(&r);
            trace.truth.finance_read_ids.push(r.id.clone());
            activities.push(r);
        }
        if n == 2 {
            if let Some(m) = ctx.finance_before(t).first().copied() {
                t += Duration::minutes(2);
                let received = received_time_text(m.received);
                let forward = b.record(
                    t,
                    "Forward",
                    "Web",
                    Some(&mut session),
                    &m.item_id,
                    reply_props(m, &received),
                );
                trace.caused(&forward);
                let sent_item = b.id("AAMkAGI2");
                t += Duration::minutes(1);
                let moved = b.record(
                    t,
                    "Move",
                    "Web",
                    Some(&mut session),
                    &sent_item,
                    vec![
                        ("MoveType", "Move".into()),
                        ("SourceFolder", "Sent Items".into()),
                        ("TargetFolder", "RSS Feeds".into()),
                    ],
                );
                trace.caused(&moved);
                trace.truth.hidden_sent_item = HiddenItem {
                    item_id: sent_item,
                    sent_activity_id: forward.id.clone(),
                    move_activity_id: moved.id.clone(),
                    target_folder: "RSS Feeds".into(),
                };
                activities.push(forward);
                activities.push(moved);
            }
        }
    }
}
