//! Property: no `--types` or `--app-types` value can change the structure of the filter. The
//! client's filter is read back with the mock tenant's independent parser.

use chrono::{TimeZone, Utc};
use o365_activities::mock::filter::{parse, Expr, TextProperty};
use o365_activities::odata::ActivityFilter;
use proptest::prelude::*;

fn leaves(expr: &Expr, out: &mut Vec<(TextProperty, String)>) -> usize {
    match expr {
        Expr::And(a, b) | Expr::Or(a, b) => leaves(a, out) + leaves(b, out),
        Expr::Not(a) => leaves(a, out),
        Expr::Time(..) => 1,
        Expr::Text(property, _, value) => {
            out.push((*property, value.clone()));
            1
        }
    }
}

proptest! {
    #[test]
    fn hostile_type_values_stay_literals(
        types in prop::collection::vec(".{0,12}|x' or 1 eq 1|'|''|\\) or \\(", 1..4),
        apps in prop::collection::vec("[ -~]{1,8}", 0..3),
    ) {
        let types: Vec<String> = types.into_iter().filter(|t| !t.is_empty()).collect();
        prop_assume!(!types.is_empty());
        let filter = ActivityFilter {
            start: Some(Utc.with_ymd_and_hms(2018, 1, 1, 0, 0, 0).unwrap()),
            end: Utc.with_ymd_and_hms(2018, 2, 1, 0, 0, 0).unwrap(),
            before: None,
            types: types.clone(),
            app_types: apps.clone(),
        };
        let parsed = parse(&filter.expression(None)).expect("the client's filter must parse");
        let mut found = Vec::new();
        let count = leaves(&parsed, &mut found);
        prop_assert_eq!(count, 2 + types.len() + apps.len());
        let expected: Vec<(TextProperty, String)> = types
            .iter()
            .map(|t| (TextProperty::ActivityIdType, t.clone()))
            .chain(apps.iter().map(|a| (TextProperty::AppIdType, a.clone())))
            .collect();
        prop_assert_eq!(found, expected);
    }
}
