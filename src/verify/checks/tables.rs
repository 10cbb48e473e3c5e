//! Tables and columns: the seven tables exist with the columns the app reads.

use super::*;

pub fn table_exists(cat: &Catalog) -> Vec<CheckResult> {
    expect::TABLES
        .iter()
        .map(|spec| {
            let target = qualified_table(spec.name);
            if cat.table(spec.name).is_some() {
                CheckId::TableExists.pass(target, "table exists")
            } else {
                let remedy = if spec.missing_file {
                    "run `vmx add-missing` (or `vmx migrate`)"
                } else {
                    "run `vmx migrate`"
                };
                CheckId::TableExists.fail(target, "table is missing", remedy)
            }
        })
        .collect()
}

pub fn table_columns(cat: &Catalog) -> Vec<CheckResult> {
    let mut out = Vec::new();
    for (spec, table) in present(cat) {
        let mut bad = Vec::new();
        for (name, ty) in spec.columns {
            let target = format!("public.{}.{}", spec.name, name);
            match table.columns.iter().find(|c| c.name == *name) {
                None => bad.push(CheckId::TableColumns.fail(
                    target,
                    format!("column is missing (expected {ty})"),
                    MIGRATE,
                )),
                Some(c) if c.data_type != *ty => bad.push(CheckId::TableColumns.fail(
                    target,
                    format!("column has type {} (expected {ty})", c.data_type),
                    format!(
                        "ALTER TABLE public.{} ALTER COLUMN {name} TYPE {ty}",
                        spec.name
                    ),
                )),
                Some(_) => {}
            }
        }
        if bad.is_empty() {
            out.push(CheckId::TableColumns.pass(
                qualified_table(spec.name),
                format!(
                    "all {} columns present with their types",
                    spec.columns.len()
                ),
            ));
        }
        out.extend(bad);
    }
    out
}

pub const BREAKS: &[Break] = &[
    Break::fails(
        CheckId::TableExists,
        "public.call_analytics",
        "DROP TABLE public.call_analytics",
    ),
    Break::fails(
        CheckId::TableColumns,
        "public.call_logs.summary",
        "ALTER TABLE public.call_logs DROP COLUMN summary",
    ),
];
