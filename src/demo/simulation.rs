//! The simulated traffic: customers place orders, the warehouse moves them
//! along and restocks, customers write to the admin (and answer when the
//! admin writes to them), and customers come online and go offline.
//!
//! One task runs the loop: it waits `60 / rate` seconds on average
//! (uniformly between half and one and a half times that, so the traffic
//! does not tick like a clock), then takes one action chosen by weight.
//! Each action is a service call made as a signed-in demo account
//! ([`Actor`]). An online customer is a connection opened through the
//! connection service, as a door opens one (so presence counts it and
//! events reach it), held by a task that reads it until the customer goes
//! offline (the task is aborted, which closes the connection) or the
//! connection ends (its token expired; the customer comes back later with a
//! renewed one).
//!
//! Bounds, so a demo left running stays a reasonable size: at most
//! [`MAX_IN_FLIGHT`] orders waiting to be delivered (past that the
//! warehouse works instead of customers ordering), at most [`MAX_ORDERS`]
//! orders in all and [`MAX_MESSAGES`] chat lines a run (past those the
//! simulation only moves orders and comes and goes), between
//! [`MIN_ONLINE`] and [`MAX_ONLINE`] customers online, and a product is
//! restocked (20 to 40 units) before an order would find it short, so
//! orders keep succeeding while a few products show as low on stock.

use std::time::Duration;

use futures::StreamExt as _;
use rand::rngs::StdRng;
use rand::seq::SliceRandom as _;
use rand::{Rng as _, SeedableRng as _};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::cast::Actor;
use super::{Cast, shop};
use crate::domain::{
    OrderListing, OrderStatus, Outgoing, Product, ProductPatch, Quantity, Stock, UserId,
};
use crate::error::AppError;
use crate::hub::{ConnectionId, Event};
use crate::services::{Authenticated, DashboardStats, Opening, Outbound, Services, Wants};
use crate::store::now;

/// Orders waiting to be delivered, at most: past this, customers wait for
/// the warehouse.
pub const MAX_IN_FLIGHT: u64 = 24;
/// Orders in the store, at most: past this, no new ones are placed.
pub const MAX_ORDERS: u64 = 10_000;
/// Chat lines the simulation starts in one run, at most.
pub const MAX_MESSAGES: u64 = 5_000;
/// Customers online, at least (when there are that many).
pub const MIN_ONLINE: usize = 2;
/// Customers online, at most.
pub const MAX_ONLINE: usize = 6;
/// Customers online as soon as the simulation starts.
const ONLINE_AT_START: usize = 3;

/// What customers write to the admin; `{product}` is a product's name.
const LINES: [&str; 9] = [
    "Hi! Quick question about the {product}: does it come with a warranty?",
    "Could I change the delivery address for my {product} order?",
    "Just received the {product}, really happy with it!",
    "Do you have the {product} in another colour?",
    "How long does shipping usually take for the {product}?",
    "My {product} order says shipped; is there a tracking number?",
    "Would you give a discount for two of the {product}?",
    "Any restock planned for the {product}? I'd like a few more.",
    "Thanks for the quick answer earlier!",
];

/// What a customer answers when the admin writes to them.
const ANSWERS: [&str; 5] = [
    "Thanks, that helps!",
    "Great, thank you!",
    "OK, I'll keep an eye out for it.",
    "Perfect, thanks a lot.",
    "Got it, have a nice day!",
];

/// One simulated action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// A customer places an order.
    PlaceOrder,
    /// The warehouse moves an order one step along.
    MoveOrder,
    /// A customer writes to the admin.
    Write,
    /// A customer comes online or goes offline.
    ComeOrGo,
}

/// A customer of the simulation, and their connection while online.
struct Customer {
    actor: Actor,
    online: Option<JoinHandle<()>>,
}

impl Customer {
    fn is_online(&self) -> bool {
        self.online.as_ref().is_some_and(|task| !task.is_finished())
    }

    fn go_offline(&mut self) {
        if let Some(task) = self.online.take() {
            task.abort();
        }
    }
}

impl Drop for Customer {
    /// A stopped simulation leaves no one online.
    fn drop(&mut self) {
        self.go_offline();
    }
}

/// The simulation's state: who is in it, and its counters.
pub(crate) struct Simulation {
    services: Services,
    warehouse: Actor,
    /// Whom customers write to: the demo admin, the person watching.
    admin: UserId,
    customers: Vec<Customer>,
    rng: StdRng,
    mean_pause: Duration,
    /// Orders in the store, as last counted.
    orders: u64,
    /// Orders not yet delivered, as last counted.
    in_flight: u64,
    /// Chat lines started this run.
    messages: u64,
}

impl Simulation {
    /// A simulation of `rate` actions a minute (at least 1) with the demo's
    /// accounts.
    ///
    /// # Errors
    /// When the warehouse cannot count the orders (store down, or its
    /// session revoked).
    pub(crate) async fn start(
        services: Services,
        cast: Cast,
        rate: u32,
    ) -> Result<Simulation, AppError> {
        let Cast {
            admin,
            warehouse,
            customers,
        } = cast;
        let mut simulation = Simulation {
            services,
            warehouse,
            admin: admin.user().id.clone(),
            customers: customers
                .into_iter()
                .map(|actor| Customer {
                    actor,
                    online: None,
                })
                .collect(),
            rng: StdRng::from_entropy(),
            mean_pause: Duration::from_secs(60) / rate.max(1),
            orders: 0,
            in_flight: 0,
            messages: 0,
        };
        simulation.count_orders().await?;
        Ok(simulation)
    }

    /// Runs until `stop` says so (or its sender is gone).
    pub(crate) async fn run(mut self, mut stop: watch::Receiver<bool>) {
        for _ in 0..ONLINE_AT_START {
            let outcome = self.come_or_go().await;
            self.log(Action::ComeOrGo, outcome);
        }
        loop {
            let pause = self.pause();
            tokio::select! {
                _ = stop.changed() => break,
                () = tokio::time::sleep(pause) => {}
            }
            let action = self.choose();
            let outcome = self.act(action).await;
            self.log(action, outcome);
        }
    }

    /// Takes one action.
    ///
    /// # Errors
    /// The service error that stopped it; the simulation carries on.
    pub(crate) async fn act(&mut self, action: Action) -> Result<(), AppError> {
        match action {
            Action::PlaceOrder => self.place_order().await,
            Action::MoveOrder => self.move_order().await,
            Action::Write => self.write().await,
            Action::ComeOrGo => self.come_or_go().await,
        }
    }

    /// Customers online now.
    pub(crate) fn online(&self) -> usize {
        self.customers.iter().filter(|c| c.is_online()).count()
    }

    fn log(&self, action: Action, outcome: Result<(), AppError>) {
        if let Err(error) = outcome {
            tracing::warn!(?action, %error, "demo: a simulated action failed; carrying on");
        }
    }

    fn pause(&mut self) -> Duration {
        self.mean_pause.mul_f64(self.rng.gen_range(0.5..1.5))
    }

    /// An action by weight, within the bounds.
    fn choose(&mut self) -> Action {
        let online = self.online();
        if online < MIN_ONLINE.min(self.customers.len()) || online > MAX_ONLINE {
            return Action::ComeOrGo;
        }
        let action = match self.rng.gen_range(0..100) {
            0..30 => Action::PlaceOrder,
            30..65 => Action::MoveOrder,
            65..80 => Action::Write,
            _ => Action::ComeOrGo,
        };
        match action {
            Action::PlaceOrder if self.in_flight >= MAX_IN_FLIGHT || self.orders >= MAX_ORDERS => {
                Action::MoveOrder
            }
            Action::Write if self.messages >= MAX_MESSAGES => Action::ComeOrGo,
            other => other,
        }
    }

    /// A customer places an order for 1 to 3 units of some product,
    /// restocked first when it has fewer.
    async fn place_order(&mut self) -> Result<(), AppError> {
        let Some(index) = self.pick(true) else {
            return Ok(());
        };
        let Some(caller) = self.caller_of(index).await? else {
            return Ok(());
        };
        let products = shop::products(&self.services).await?;
        let Some(product) = products.choose(&mut self.rng).cloned() else {
            return Ok(());
        };
        let units = *[1, 1, 1, 1, 1, 1, 2, 2, 3]
            .choose(&mut self.rng)
            .unwrap_or(&1);
        if product.stock.units() < units {
            self.restock(&product).await?;
        }
        let quantity = Quantity::parse(units).map_err(|e| e.on("quantity"))?;
        match self
            .services
            .orders
            .place(&caller.principal, &product.id, quantity, None)
            .await
        {
            Ok(_) => {
                self.orders += 1;
                self.in_flight += 1;
                Ok(())
            }
            // Someone else took the stock meanwhile (or removed the
            // product): a refused order is part of shopping too.
            Err(AppError::Conflict(_) | AppError::NotFound(_)) => Ok(()),
            Err(other) => Err(other),
        }
    }

    /// The warehouse sets a product's stock to 20 to 40 units.
    async fn restock(&mut self, product: &Product) -> Result<(), AppError> {
        let warehouse = self.warehouse.caller(&self.services).await?.principal;
        let units = self.rng.gen_range(20..=40);
        let patch = ProductPatch {
            stock: Some(Stock::parse(units).map_err(|e| e.on("stock"))?),
            ..ProductPatch::default()
        };
        self.services
            .catalog
            .update(&warehouse, &product.id, patch)
            .await?;
        Ok(())
    }

    /// The warehouse moves the oldest order of a stage one step along,
    /// choosing the stage by how many orders wait in it.
    async fn move_order(&mut self) -> Result<(), AppError> {
        let stats = self.count_orders().await?;
        let waiting = [
            OrderStatus::Pending,
            OrderStatus::Processing,
            OrderStatus::Shipped,
        ]
        .map(|status| (status, count_of(&stats, status)));
        let total: u64 = waiting.iter().map(|(_, count)| count).sum();
        if total == 0 {
            return Ok(());
        }
        let mut pick = self.rng.gen_range(0..total);
        let mut from = OrderStatus::Pending;
        for (status, count) in waiting {
            if pick < count {
                from = status;
                break;
            }
            pick -= count;
        }
        let to = match from {
            OrderStatus::Pending => OrderStatus::Processing,
            OrderStatus::Processing => OrderStatus::Shipped,
            OrderStatus::Shipped | OrderStatus::Delivered => OrderStatus::Delivered,
        };
        let warehouse = self.warehouse.caller(&self.services).await?.principal;
        let listing = OrderListing {
            status: Some(from),
            first: 50,
            after: None,
        };
        let page = self.services.orders.list(&warehouse, listing).await?;
        let Some(oldest) = page.items.last() else {
            return Ok(());
        };
        match self
            .services
            .orders
            .update_status(&warehouse, &oldest.id, to)
            .await
        {
            Ok(_) => {
                if to == OrderStatus::Delivered {
                    self.in_flight = self.in_flight.saturating_sub(1);
                }
                Ok(())
            }
            // Another admin moved it first.
            Err(AppError::Conflict(_)) => Ok(()),
            Err(other) => Err(other),
        }
    }

    /// Counts the orders (as the warehouse, through the dashboard figures).
    async fn count_orders(&mut self) -> Result<DashboardStats, AppError> {
        let warehouse = self.warehouse.caller(&self.services).await?.principal;
        let stats = self.services.dashboard.stats(&warehouse).await?;
        self.orders = stats.orders_by_status.iter().map(|(_, n)| n).sum();
        self.in_flight = self.orders - count_of(&stats, OrderStatus::Delivered);
        Ok(stats)
    }

    /// A customer (online, or coming online for it) types, then writes a
    /// line to the admin.
    async fn write(&mut self) -> Result<(), AppError> {
        let Some(index) = self.pick(true) else {
            return Ok(());
        };
        let Some(caller) = self.caller_of(index).await? else {
            return Ok(());
        };
        if !self.customers[index].is_online() {
            self.connect(index, caller.clone());
        }
        let products = shop::products(&self.services).await?;
        let product = products
            .choose(&mut self.rng)
            .map_or("order", |product| product.name.as_str());
        let line = LINES
            .choose(&mut self.rng)
            .unwrap_or(&LINES[0])
            .replace("{product}", product);
        let outgoing = Outgoing::parse(self.admin.as_str(), &line)?;
        let typing_for = Duration::from_millis(self.rng.gen_range(1200..3500));
        self.messages += 1;
        let services = self.services.clone();
        let admin = self.admin.clone();
        tokio::spawn(async move {
            let _ = services.chat.set_typing(&caller.principal, &admin, true);
            tokio::time::sleep(typing_for).await;
            if let Err(error) = services
                .chat
                .send(&caller.principal, outgoing, None, None)
                .await
            {
                tracing::warn!(%error, "demo: a chat line was not sent");
            }
        });
        Ok(())
    }

    /// An offline customer comes online, or an online one goes offline,
    /// keeping the number online within the bounds.
    async fn come_or_go(&mut self) -> Result<(), AppError> {
        let (online, offline): (Vec<usize>, Vec<usize>) =
            (0..self.customers.len()).partition(|&i| self.customers[i].is_online());
        let come = if online.len() <= MIN_ONLINE {
            true
        } else if online.len() >= MAX_ONLINE {
            false
        } else {
            self.rng.gen_bool(0.5)
        };
        if come {
            let Some(&index) = offline.choose(&mut self.rng) else {
                return Ok(());
            };
            if let Some(caller) = self.caller_of(index).await? {
                self.connect(index, caller);
            }
        } else if let Some(&index) = online.choose(&mut self.rng) {
            self.customers[index].go_offline();
        }
        Ok(())
    }

    /// Opens the customer's connection (see [`stay_online`]).
    fn connect(&mut self, index: usize, caller: Authenticated) {
        let seed = self.rng.r#gen();
        let customer = &mut self.customers[index];
        customer.go_offline();
        customer.online = Some(tokio::spawn(stay_online(
            self.services.clone(),
            caller,
            seed,
        )));
    }

    /// A customer, mostly an online one when `prefer_online`.
    fn pick(&mut self, prefer_online: bool) -> Option<usize> {
        let online: Vec<usize> = (0..self.customers.len())
            .filter(|&i| self.customers[i].is_online())
            .collect();
        if prefer_online && !online.is_empty() && self.rng.gen_bool(0.8) {
            return online.choose(&mut self.rng).copied();
        }
        (!self.customers.is_empty()).then(|| self.rng.gen_range(0..self.customers.len()))
    }

    /// The customer's caller for the next call; `None` (and the customer
    /// leaves the simulation) when their session no longer works: an admin
    /// deactivated or signed out the account.
    async fn caller_of(&mut self, index: usize) -> Result<Option<Authenticated>, AppError> {
        match self.customers[index].actor.caller(&self.services).await {
            Ok(caller) => Ok(Some(caller)),
            Err(AppError::Unauthenticated(_) | AppError::Forbidden(_)) => {
                let gone = self.customers.remove(index);
                tracing::info!(
                    user.id = %gone.actor.user().id,
                    "demo: a customer left the simulation (signed out or deactivated)"
                );
                Ok(None)
            }
            Err(other) => Err(other),
        }
    }
}

fn count_of(stats: &DashboardStats, status: OrderStatus) -> u64 {
    stats
        .orders_by_status
        .iter()
        .find(|(s, _)| *s == status)
        .map_or(0, |(_, count)| *count)
}

/// One customer's connection, opened as a door opens one (so presence
/// counts it) and read as a door reads it: a chat message to the customer
/// is handed over (so marked delivered), marked seen a moment later and,
/// when it was written while the customer was online, answered.
async fn stay_online(services: Services, caller: Authenticated, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let me = caller.principal;
    let origin = ConnectionId(format!("demo:{}", UserId::generate()));
    let opened_at = now();
    let mut live = services.connections.open(Opening {
        principal: me.clone(),
        expires_at: caller.expires_at,
        origin: origin.clone(),
        wants: Wants::Events { resume_after: None },
    });
    while let Some(item) = live.next().await {
        live.handed_over(&item);
        let Outbound::Event(published) = &item else {
            continue;
        };
        let Event::MessageSent { message, .. } = &published.event else {
            continue;
        };
        if message.to != me.user_id {
            continue;
        }
        tokio::time::sleep(Duration::from_millis(rng.gen_range(1500..4000))).await;
        if let Err(error) = services.chat.mark_seen(&me, &message.from).await {
            tracing::warn!(%error, "demo: a message was not marked seen");
        }
        if message.created_at < opened_at {
            continue; // written while they were away: read, not answered
        }
        let _ = services.chat.set_typing(&me, &message.from, true);
        tokio::time::sleep(Duration::from_millis(rng.gen_range(1000..2500))).await;
        let answer = ANSWERS.choose(&mut rng).unwrap_or(&ANSWERS[0]);
        let sent = match Outgoing::parse(message.from.as_str(), answer) {
            Ok(outgoing) => {
                services
                    .chat
                    .send(&me, outgoing, None, Some(origin.clone()))
                    .await
            }
            Err(error) => Err(error),
        };
        if let Err(error) = sent {
            tracing::warn!(%error, "demo: an answer was not sent");
        }
    }
}
