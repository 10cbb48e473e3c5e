//! `--format junit`: one testcase per check (classname = section, name = id
//! and target); failures carry detail and remedy; warnings pass with the
//! warning in system-out so CI dashboards stay green on warnings.

use super::{Report, Status};
use quick_junit::{NonSuccessKind, Report as JUnit, TestCase, TestCaseStatus, TestSuite};

pub fn render(report: &Report) -> anyhow::Result<String> {
    let mut junit = JUnit::new("vmx verify");
    let mut suite = TestSuite::new("vmx verify");
    for c in &report.checks {
        let text = match &c.remedy {
            Some(remedy) => format!("{}\nremedy: {remedy}", c.detail),
            None => c.detail.clone(),
        };
        let status = match c.status {
            Status::Pass | Status::Warn => TestCaseStatus::success(),
            Status::Fail => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(c.detail.clone());
                s.set_description(text.clone());
                s
            }
            Status::Skip => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(c.detail.clone());
                s
            }
        };
        let mut case = TestCase::new(format!("{} {}", c.id, c.target), status);
        case.set_classname(c.section.id());
        if c.status == Status::Warn {
            case.set_system_out(format!("warning: {text}"));
        }
        suite.add_test_case(case);
    }
    junit.add_test_suite(suite);
    Ok(junit.to_string()?)
}
