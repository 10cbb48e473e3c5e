//! The promises of product.md §1, proven as users meet them.
mod common;
use common::*;

#[tokio::test]
async fn harness_builds_every_fixture() {
    for f in [Fixture::Schema, Fixture::Legacy, Fixture::LegacyFourFiles] {
        let db = fresh_db(f);
        assert!(!db.row_counts().is_empty(), "{f:?}");
    }
    let db = fresh_db(Fixture::Schema);
    let a = db.sign_up("a@example.com").await;
    let mut conn = db.connect_as(Actor::User(a)).await;
    let n: i64 = sqlx::query_scalar("select count(*) from public.profiles")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(n, 1);
}
