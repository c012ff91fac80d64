//! Accounts: registration, sign-in, session rotation, sign-out, roles.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use rand::RngCore;
use tracing::instrument;

use super::{Authenticator, LoginThrottle};
use crate::auth::{AccessToken, PasswordHasher, Principal, RefreshToken, TokenIssuer};
use crate::config::BootstrapAdmin;
use crate::domain::{Email, NewUser, Password, Role, User, UserId, UserName};
use crate::error::{AppError, FieldErrors};
use crate::hub::{Audience, Event, Hub};
use crate::store::{NewRefreshToken, RefreshUse, Store, StoreError, now};

/// The one message for an unknown email and a wrong password.
const BAD_CREDENTIALS: &str = "invalid email or password";

/// Why the right password of a deactivated account does not sign in.
const DEACTIVATED: &str = "this account is deactivated";

/// The message of every refresh token that cannot be exchanged.
const BAD_REFRESH_TOKEN: &str = "invalid or expired refresh token";

/// The instant before which an account's access tokens become void when its
/// sessions end now: one millisecond ahead, so a token issued in the same
/// millisecond as the sign-out (tokens carry milliseconds) is void too.
fn session_cut_off() -> chrono::DateTime<chrono::Utc> {
    now() + chrono::Duration::milliseconds(1)
}

/// A new account's details, already valid.
#[derive(Debug, Clone)]
pub struct Registration {
    /// Display name.
    pub name: UserName,
    /// Sign-in address.
    pub email: Email,
    /// Chosen password (policy-checked).
    pub password: Password,
}

/// A sign-in attempt, already shaped (not checked against the policy: an old
/// password may predate it).
#[derive(Debug, Clone)]
pub struct SignIn {
    /// Sign-in address.
    pub email: Email,
    /// The password typed.
    pub password: Password,
}

impl Registration {
    /// Parses the raw fields of a registration form, reporting every bad
    /// field at once (`name`, `email`, `password`).
    ///
    /// # Errors
    /// `BAD_USER_INPUT` with per-field details.
    pub fn parse(name: &str, email: &str, password: &str) -> Result<Self, AppError> {
        let mut problems = FieldErrors::new();
        let name = UserName::parse(name).map_err(|e| problems.insert("name".into(), e.to_string()));
        let email = Email::parse(email).map_err(|e| problems.insert("email".into(), e.to_string()));
        let password = Password::parse(password)
            .map_err(|e| problems.insert("password".into(), e.to_string()));
        match (name, email, password) {
            (Ok(name), Ok(email), Ok(password)) => Ok(Registration {
                name,
                email,
                password,
            }),
            _ => Err(AppError::invalid_fields(problems)),
        }
    }
}

impl SignIn {
    /// Parses the raw fields of a sign-in form (`email`, `password`).
    ///
    /// # Errors
    /// `BAD_USER_INPUT` with per-field details.
    pub fn parse(email: &str, password: &str) -> Result<Self, AppError> {
        let mut problems = FieldErrors::new();
        let email = Email::parse(email).map_err(|e| problems.insert("email".into(), e.to_string()));
        let password = Password::attempt(password)
            .map_err(|e| problems.insert("password".into(), e.to_string()));
        match (email, password) {
            (Ok(email), Ok(password)) => Ok(SignIn { email, password }),
            _ => Err(AppError::invalid_fields(problems)),
        }
    }
}

/// What a successful sign-in, registration or refresh hands to the client.
#[derive(Debug)]
pub struct Session {
    /// The account.
    pub user: User,
    /// A short-lived access token.
    pub access: AccessToken,
    /// The single-use token that obtains the next access token.
    pub refresh: RefreshToken,
}

/// The accounts service. Cheap to clone.
#[derive(Clone)]
pub struct Accounts {
    store: Arc<dyn Store>,
    hasher: PasswordHasher,
    tokens: TokenIssuer,
    authenticator: Authenticator,
    hub: Hub,
    throttle: LoginThrottle,
    refresh_ttl: Duration,
}

impl Accounts {
    /// Wires the service; refresh tokens live `refresh_ttl`.
    pub fn new(
        store: Arc<dyn Store>,
        hasher: PasswordHasher,
        tokens: TokenIssuer,
        authenticator: Authenticator,
        hub: Hub,
        throttle: LoginThrottle,
        refresh_ttl: Duration,
    ) -> Self {
        Accounts {
            store,
            hasher,
            tokens,
            authenticator,
            hub,
            throttle,
            refresh_ttl,
        }
    }

    /// Creates a user account (never an admin) and signs it in.
    ///
    /// # Errors
    /// `RATE_LIMITED` for too many attempts from `client`; `CONFLICT` when the
    /// email is registered; `UNAVAILABLE` when the store is down.
    #[instrument(skip_all)]
    pub async fn register(
        &self,
        registration: Registration,
        client: IpAddr,
    ) -> Result<Session, AppError> {
        self.throttle.check_address(client).await?;
        let user = self
            .create_account(
                registration.name,
                registration.email,
                &registration.password,
                Role::User,
            )
            .await?;
        tracing::info!(user.id = %user.id, "account registered");
        self.start_session(user).await
    }

    /// Signs in with email and password.
    ///
    /// # Errors
    /// `RATE_LIMITED` when the address or the account has had too many
    /// attempts; `UNAUTHENTICATED` with one message for an unknown email and a
    /// wrong password; `FORBIDDEN` for the right password of a deactivated
    /// account (said only to someone who knows the password);
    /// `UNAVAILABLE` when the store is down.
    #[instrument(skip_all)]
    pub async fn login(&self, sign_in: SignIn, client: IpAddr) -> Result<Session, AppError> {
        self.throttle.check_address(client).await?;
        self.throttle.check_account(&sign_in.email).await?;
        let Some(credentials) = self.store.credentials_by_email(&sign_in.email).await? else {
            // Same cost as a real verification, so timing does not reveal
            // which emails have accounts.
            self.hasher.verify_decoy(&sign_in.password).await?;
            self.throttle.failed(&sign_in.email).await;
            return Err(AppError::Unauthenticated(BAD_CREDENTIALS));
        };
        if !self
            .hasher
            .verify(&sign_in.password, &credentials.password_hash)
            .await?
        {
            tracing::info!(user.id = %credentials.user.id, "sign-in refused: wrong password");
            self.throttle.failed(&sign_in.email).await;
            return Err(AppError::Unauthenticated(BAD_CREDENTIALS));
        }
        if !credentials.user.active {
            tracing::info!(user.id = %credentials.user.id, "sign-in refused: account deactivated");
            return Err(AppError::Forbidden(DEACTIVATED));
        }
        tracing::info!(user.id = %credentials.user.id, "signed in");
        self.start_session(credentials.user).await
    }

    /// Exchanges a refresh token for a new session (rotation). Presenting a
    /// token that was already exchanged revokes its whole family: either the
    /// client or an attacker holds a stolen copy, and neither may continue.
    ///
    /// # Errors
    /// `UNAUTHENTICATED` for an unknown, expired or revoked token; `CONFLICT`
    /// for reuse of a rotated token; `UNAVAILABLE` when the store is down.
    #[instrument(skip_all)]
    pub async fn refresh(&self, presented: &RefreshToken) -> Result<Session, AppError> {
        match self
            .store
            .use_refresh_token(&presented.hash(), now())
            .await?
        {
            RefreshUse::Fresh { user_id, family } => {
                let Some(user) = self.store.user_by_id(&user_id).await? else {
                    return Err(AppError::Unauthenticated(BAD_REFRESH_TOKEN));
                };
                if !user.active {
                    // Deactivation revokes the account's refresh tokens; this
                    // covers one presented in the moment between the writes.
                    return Err(AppError::Unauthenticated(BAD_REFRESH_TOKEN));
                }
                let refresh = self.issue_refresh_token(&user.id, family).await?;
                let access = self.tokens.issue(&user)?;
                Ok(Session {
                    user,
                    access,
                    refresh,
                })
            }
            RefreshUse::Reused { user_id, family } => {
                let revoked = self.store.revoke_refresh_family(&family, now()).await?;
                tracing::warn!(user.id = %user_id, revoked, "refresh token reused: session family revoked");
                self.sign_out_everywhere(&user_id).await?;
                Err(AppError::Conflict(
                    "refresh token already used; the session was revoked, sign in again".into(),
                ))
            }
            RefreshUse::Invalid => Err(AppError::Unauthenticated(BAD_REFRESH_TOKEN)),
        }
    }

    /// Ends the session the refresh token belongs to. Idempotent: an unknown
    /// or already revoked token is not an error, so a client can always sign
    /// out and learns nothing about tokens it does not hold.
    ///
    /// # Errors
    /// `UNAVAILABLE` when the store is down.
    #[instrument(skip_all)]
    pub async fn logout(&self, presented: &RefreshToken) -> Result<(), AppError> {
        let Some((user_id, family)) = self.store.refresh_token_owner(&presented.hash()).await?
        else {
            return Ok(());
        };
        let revoked = self.store.revoke_refresh_family(&family, now()).await?;
        if revoked > 0 {
            tracing::info!(user.id = %user_id, "signed out");
            self.sign_out_everywhere(&user_id).await?;
        }
        Ok(())
    }

    /// The caller's own account.
    ///
    /// # Errors
    /// `UNAUTHENTICATED` when the account no longer exists (the token
    /// outlived it); `UNAVAILABLE` when the store is down.
    pub async fn me(&self, principal: &Principal) -> Result<User, AppError> {
        self.store
            .user_by_id(&principal.user_id)
            .await?
            .ok_or(AppError::Unauthenticated(crate::auth::INVALID_TOKEN))
    }

    /// Who may read an account by its id (`me`, the admins' `users`,
    /// `node`): the account itself and admins. Accounts linked from what
    /// the caller may read (a message's sender, an order's buyer) are read
    /// through those links, not by id.
    pub fn readable(principal: &Principal, user: &User) -> bool {
        principal.is_admin() || user.id == principal.user_id
    }

    /// Accounts by id, for batch loaders; unknown ids are skipped.
    ///
    /// # Errors
    /// `UNAVAILABLE` when the store is down.
    pub async fn users(&self, ids: &[UserId]) -> Result<Vec<User>, AppError> {
        Ok(self.store.users_by_ids(ids).await?)
    }

    /// Changes another account's role (admins only). The account's live
    /// connections are told, since their tokens carry the old role.
    ///
    /// # Errors
    /// `FORBIDDEN` for non-admins and for an admin changing their own role
    /// (which could leave no admin); `NOT_FOUND` for an unknown account;
    /// `UNAVAILABLE` when the store is down.
    #[instrument(skip_all, fields(user.id = %principal.user_id, target.id = %target))]
    pub async fn set_role(
        &self,
        principal: &Principal,
        target: &UserId,
        role: Role,
    ) -> Result<User, AppError> {
        principal.require_admin()?;
        if &principal.user_id == target {
            return Err(AppError::Forbidden("admins cannot change their own role"));
        }
        let before = self
            .store
            .user_by_id(target)
            .await?
            .ok_or(AppError::NotFound("user"))?;
        if before.role == role {
            return Ok(before);
        }
        let user = self
            .store
            .set_user_role(target, role, session_cut_off())
            .await?
            .ok_or(AppError::NotFound("user"))?;
        tracing::info!(role = role.as_str(), "role changed");
        self.sessions_ended(
            &user.id,
            Event::RoleChanged {
                user_id: user.id.clone(),
                role,
            },
        );
        Ok(user)
    }

    /// Deactivates (or reactivates) another account (admins only). A
    /// deactivated account cannot sign in, its refresh tokens are revoked,
    /// its access tokens are refused at every door and its live connections
    /// end; its data stays.
    ///
    /// # Errors
    /// `FORBIDDEN` for non-admins and for an admin deactivating themselves
    /// (which could leave no admin); `NOT_FOUND` for an unknown account;
    /// `UNAVAILABLE` when the store is down.
    #[instrument(skip_all, fields(user.id = %principal.user_id, target.id = %target))]
    pub async fn set_active(
        &self,
        principal: &Principal,
        target: &UserId,
        active: bool,
    ) -> Result<User, AppError> {
        principal.require_admin()?;
        if &principal.user_id == target {
            return Err(AppError::Forbidden(
                "admins cannot deactivate or reactivate themselves",
            ));
        }
        let cut_off = if active {
            // Reactivation voids nothing: tokens issued before the
            // deactivation stay void through its cut-off.
            chrono::DateTime::UNIX_EPOCH
        } else {
            session_cut_off()
        };
        let user = self
            .store
            .set_user_active(target, active, cut_off)
            .await?
            .ok_or(AppError::NotFound("user"))?;
        if active {
            tracing::info!("account reactivated");
            self.authenticator.forget(&user.id);
        } else {
            let revoked = self
                .store
                .revoke_user_refresh_tokens(&user.id, now())
                .await?;
            tracing::info!(revoked, "account deactivated");
            self.sessions_ended(
                &user.id,
                Event::Deactivated {
                    user_id: user.id.clone(),
                },
            );
        }
        Ok(user)
    }

    /// Creates an admin account (the operator's door: CLI and bootstrap).
    ///
    /// # Errors
    /// `CONFLICT` when the email is registered; `UNAVAILABLE` when the store is down.
    pub async fn create_admin(
        &self,
        name: UserName,
        email: Email,
        password: &Password,
    ) -> Result<User, AppError> {
        let user = self
            .create_account(name, email, password, Role::Admin)
            .await?;
        tracing::info!(user.id = %user.id, "admin account created");
        Ok(user)
    }

    /// Creates the configured first admin unless an account has its email.
    ///
    /// # Errors
    /// `UNAVAILABLE` when the store is down.
    pub async fn ensure_bootstrap_admin(&self, admin: &BootstrapAdmin) -> Result<(), AppError> {
        if let Some(existing) = self.store.credentials_by_email(&admin.email).await? {
            if existing.user.role != Role::Admin {
                tracing::warn!(user.id = %existing.user.id, "ADMIN_EMAIL belongs to a non-admin account; left unchanged");
            }
            return Ok(());
        }
        let name = UserName::parse("Admin").expect("BUG: a constant valid name");
        match self
            .create_admin(name, admin.email.clone(), &admin.password)
            .await
        {
            // Another process bootstrapped it between our read and write.
            Err(AppError::Conflict(_)) | Ok(_) => Ok(()),
            Err(other) => Err(other),
        }
    }

    /// Voids every access token the user holds (kept in the store, so it
    /// holds after a restart and on every process) and ends their live
    /// connections. Fresh tokens (refresh, sign-in) work at once.
    async fn sign_out_everywhere(&self, user_id: &UserId) -> Result<(), AppError> {
        self.store
            .end_user_sessions(user_id, session_cut_off())
            .await?;
        self.sessions_ended(
            user_id,
            Event::SignedOut {
                user_id: user_id.clone(),
            },
        );
        Ok(())
    }

    /// After the account's status was written: this process checks the
    /// account's next token against the store, and its live connections are
    /// told (`event`) and closed.
    fn sessions_ended(&self, user_id: &UserId, event: Event) {
        self.authenticator.forget(user_id);
        self.hub.publish(Audience::User(user_id.clone()), event);
    }

    /// Forgets idle throttle state and stale account statuses; called
    /// periodically by the app.
    pub fn forget_idle_throttles(&self) {
        self.throttle.forget_idle();
        self.authenticator.forget_stale();
    }

    async fn create_account(
        &self,
        name: UserName,
        email: Email,
        password: &Password,
        role: Role,
    ) -> Result<User, AppError> {
        let password_hash = self.hasher.hash(password).await?;
        let new_user = NewUser {
            id: UserId::generate(),
            name,
            email,
            role,
            password_hash,
            created_at: now(),
        };
        self.store
            .insert_user(&new_user)
            .await
            .map_err(|error| match error {
                StoreError::Duplicate => AppError::Conflict("email is already registered".into()),
                other => other.into(),
            })
    }

    async fn start_session(&self, user: User) -> Result<Session, AppError> {
        let mut family = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut family);
        let refresh = self
            .issue_refresh_token(&user.id, hex::encode(family))
            .await?;
        let access = self.tokens.issue(&user)?;
        Ok(Session {
            user,
            access,
            refresh,
        })
    }

    async fn issue_refresh_token(
        &self,
        user_id: &UserId,
        family: String,
    ) -> Result<RefreshToken, AppError> {
        let token = RefreshToken::generate();
        let issued_at = now();
        let lifetime = chrono::Duration::from_std(self.refresh_ttl).map_err(|e| {
            AppError::Internal(anyhow::anyhow!("refresh lifetime out of range: {e}"))
        })?;
        self.store
            .insert_refresh_token(&NewRefreshToken {
                hash: token.hash(),
                user_id: user_id.clone(),
                family,
                issued_at,
                expires_at: issued_at + lifetime,
            })
            .await?;
        Ok(token)
    }
}
