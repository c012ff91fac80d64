//! `totalCount`, the field every connection adds to async-graphql's own
//! (`pageInfo`, `edges`, `nodes`): what each list counts, asked of its
//! service only when a client selects the field.

use async_graphql::{Context, Object};

use super::context::ContextExt as _;
use super::error::IntoGraphql as _;
use crate::domain::{OrderListing, ProductListing, UserId};

/// What a connection's `totalCount` counts: the list's filters, without
/// its cursor and page size.
pub enum Counted {
    /// The catalogue with these filters (`products`).
    Products(ProductListing),
    /// Every order with this status filter (`orders`).
    Orders(OrderListing),
    /// The caller's own orders (`myOrders`).
    MyOrders(OrderListing),
    /// Accounts, online, not online or all (`users`).
    Users(Option<bool>),
    /// The caller's thread with this peer (`messages`).
    Thread(UserId),
    /// The caller's conversations (`conversationsConnection`).
    Conversations,
}

/// The extra fields of every connection: its total.
pub struct Total(Counted);

impl Total {
    /// The total of the list `counted` describes.
    pub fn of(counted: Counted) -> Self {
        Total(counted)
    }
}

#[Object(name = "ConnectionTotal")]
impl Total {
    /// How many items the list holds with its filters, whatever the cursor
    /// and the page size. Counted by the store (a count query; no rows are
    /// read), and only when selected; `users(online:)` counts presence as
    /// the field `users` describes. Errors: `UNAUTHENTICATED`, `FORBIDDEN`
    /// (as for the list itself), `UNAVAILABLE` (the store is down).
    async fn total_count(&self, ctx: &Context<'_>) -> async_graphql::Result<u64> {
        let services = ctx.services();
        match &self.0 {
            Counted::Products(listing) => services.catalog.count(listing).await,
            Counted::Orders(listing) => services.orders.count(ctx.principal()?, listing).await,
            Counted::MyOrders(listing) => {
                services.orders.count_mine(ctx.principal()?, listing).await
            }
            Counted::Users(online) => {
                services
                    .presence
                    .count_users(ctx.principal()?, *online)
                    .await
            }
            Counted::Thread(peer) => services.chat.count_thread(ctx.principal()?, peer).await,
            Counted::Conversations => services.chat.count_conversations(ctx.principal()?).await,
        }
        .graphql()
    }
}

#[cfg(test)]
mod tests {

    use async_graphql::Request;

    use crate::auth::Principal;

    use crate::domain::{NewProduct, Role, UserId};
    use crate::graphql::{Caller, engine};

    #[tokio::test]
    async fn the_total_is_one_count_and_only_when_selected() {
        // Arrange: 30 products on a real SQLite store.
        let (services, counting, _dir) = crate::services::testing::counted_services().await;
        let admin = Principal {
            user_id: UserId::generate(),
            role: Role::Admin,
        };
        for n in 0..30 {
            let name = if n % 3 == 0 { "Lamp" } else { "Chair" };
            let new = NewProduct::parse(&format!("{name} {n}"), 10.0, Some(1), None).unwrap();
            services.catalog.create(&admin, new, None).await.unwrap();
        }
        let schema = engine(services.clone());
        let run = async |query: &str| {
            counting.reset();
            let response = schema
                .execute(Request::new(query).data(Caller::Signed(admin.clone())))
                .await;
            assert!(response.errors.is_empty(), "{:?}", response.errors);
            (response.data.into_json().unwrap(), counting.calls())
        };

        // Act and assert: without totalCount, no count.
        let (_, calls) = run("{ products(first: 5) { nodes { id } } }").await;
        assert_eq!(calls.get("list_products"), Some(&1), "{calls:?}");
        assert_eq!(calls.values().sum::<usize>(), 1, "{calls:?}");

        // With it, one count query beside the one page read.
        let (data, calls) =
            run("{ products(search: \"lamp\", first: 5) { totalCount nodes { id } } }").await;
        assert_eq!(data["products"]["totalCount"], 10);
        assert_eq!(calls.get("list_products"), Some(&1), "{calls:?}");
        assert_eq!(calls.get("count_matching_products"), Some(&1), "{calls:?}");
        assert_eq!(calls.values().sum::<usize>(), 2, "{calls:?}");

        // The total alone reads no row beyond the page it comes with.
        let (data, calls) = run("{ products(first: 1) { totalCount } }").await;
        assert_eq!(data["products"]["totalCount"], 30);
        assert_eq!(calls.get("count_matching_products"), Some(&1), "{calls:?}");
        assert_eq!(calls.values().sum::<usize>(), 2, "{calls:?}");
    }
}
