//! The store contract: behaviour every adapter must have, written once.
//!
//! Each function takes any [`Store`] and asserts; `sqlite/` and `mongo/`
//! instantiate every one of them through [`for_each_contract_test!`], so
//! adding a function to an aggregate's file here and to that list runs it
//! on both stores. The files follow the port's aggregates (`users.rs`,
//! `products.rs`, `orders.rs`, `messages.rs`, `tokens.rs`, `idempotency.rs`,
//! `event_log.rs`); this one holds the list and the helpers several share.

mod event_log;
mod idempotency;
mod messages;
mod orders;
mod products;
mod tokens;
mod users;

pub use event_log::*;
pub use idempotency::*;
pub use messages::*;
pub use orders::*;
pub use products::*;
pub use tokens::*;
pub use users::*;

use crate::domain::{Email, NewUser, Role, UserId, UserName};
use crate::store::{Store, now};

/// Calls `$callback!` with the name of every contract test.
macro_rules! for_each_contract_test {
    ($callback:ident) => {
        $callback!(
            a_user_reads_back_as_written,
            a_taken_email_is_a_duplicate,
            emails_are_looked_up_with_their_credentials,
            users_are_fetched_in_batches,
            roles_change_and_unknown_users_are_none,
            a_new_account_is_active_with_no_session_cut_off,
            role_changes_deactivation_and_sign_outs_move_the_session_cut_off_forward_only,
            deactivation_is_kept_and_can_be_undone,
            revoking_an_accounts_refresh_tokens_spares_other_accounts,
            the_first_claim_of_an_idempotency_key_holds_until_it_expires,
            concurrent_claims_of_one_key_agree_on_one_result,
            a_message_is_found_by_id,
            a_logged_message_is_stored_with_its_entry_at_the_next_position,
            messages_are_fetched_in_batches,
            users_are_counted,
            last_activity_is_recorded_and_never_moves_backwards,
            users_are_listed_in_registration_order_with_the_id_breaking_ties,
            user_pages_walk_every_user_exactly_once_even_while_others_register,
            a_message_reads_back_as_written,
            a_thread_holds_both_directions_of_one_pair_newest_first,
            message_pages_walk_every_message_exactly_once,
            messages_sent_while_paging_neither_appear_in_later_pages_nor_shift_them,
            marking_seen_touches_only_the_peers_unseen_messages_to_the_reader,
            concurrent_mark_seen_calls_report_each_message_once,
            undelivered_messages_come_oldest_first_until_marked_delivered,
            conversations_show_each_peer_once_with_the_latest_message_and_unread_count,
            conversation_peers_list_everyone_written_to_or_heard_from_once,
            messages_are_counted_per_participant_and_per_thread,
            conversation_pages_walk_every_conversation_once_newest_first_and_are_counted,
            a_refresh_token_is_fresh_once_then_reused,
            concurrent_uses_of_one_refresh_token_yield_one_fresh,
            revoking_a_family_invalidates_every_member,
            expired_and_unknown_refresh_tokens_are_invalid,
            the_owner_of_a_refresh_token_is_known,
            a_product_reads_back_as_written,
            a_partial_update_changes_only_the_given_fields,
            renaming_a_product_changes_what_search_and_name_order_find,
            a_deleted_product_is_gone_everywhere,
            search_matches_every_word_as_a_case_insensitive_prefix,
            price_filters_include_their_bounds,
            each_sort_orders_the_catalogue_with_the_id_breaking_ties,
            pages_walk_every_product_exactly_once_in_each_sort,
            products_added_between_pages_neither_repeat_nor_hide_earlier_ones,
            products_are_counted,
            product_counts_match_the_filters_whatever_the_page,
            low_stock_products_are_those_below_the_threshold_fewest_first,
            placing_an_order_takes_stock_and_prices_it,
            orders_are_fetched_in_batches,
            an_order_beyond_the_stock_is_out_of_stock_and_writes_nothing,
            an_order_for_an_unknown_product_writes_nothing,
            an_order_outlives_its_product,
            concurrent_orders_never_oversell,
            orders_move_forward_and_may_skip,
            backward_and_same_status_moves_are_not_allowed,
            moving_an_unknown_order_is_unknown,
            concurrent_moves_never_leave_an_order_behind_the_furthest_move,
            orders_are_listed_newest_first_and_filtered,
            order_pages_walk_every_order_exactly_once,
            orders_are_counted_with_their_filters,
            order_stats_count_every_status_and_sum_revenue,
            the_event_log_hands_out_consecutive_positions_in_order,
            a_replay_shows_a_reader_only_what_it_may_see,
            trimming_keeps_the_newest_event_and_never_reuses_a_position,
            concurrent_appends_take_distinct_consecutive_positions,
        );
    };
}
pub(crate) use for_each_contract_test;

/// A valid new account with the given email.
pub fn new_user(email: &str) -> NewUser {
    NewUser {
        id: UserId::generate(),
        name: UserName::parse("Contract Tester").unwrap(),
        email: Email::parse(email).unwrap(),
        role: Role::User,
        password_hash: "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
        created_at: now(),
    }
}

/// A signed-up customer.
async fn customer(store: &dyn Store, email: &str) -> UserId {
    let user = new_user(email);
    store.insert_user(&user).await.unwrap();
    user.id
}
