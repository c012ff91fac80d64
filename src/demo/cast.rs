//! The demo's people: accounts signed in the way a client signs in.
//!
//! An [`Actor`] holds a session from the accounts service (registration or
//! sign-in, with the real password hashing), and before every call has its
//! access token checked by the authenticator, as every door does. It renews
//! the session with its refresh token a minute before the access token
//! expires, as the dashboard does, and notices when an admin deactivated or
//! signed out the account: the simulation then lets that person go.

use std::net::{IpAddr, Ipv4Addr};

use crate::domain::{Email, Password, User, UserName};
use crate::error::AppError;
use crate::services::{Authenticated, Registration, Services, Session, SignIn};
use crate::store::now;

/// The session is renewed when its access token has less than this left.
const RENEW_BEFORE_SECS: i64 = 60;

/// The client address a demo account signs in from.
///
/// Sign-in and registration are throttled per client address (20 a
/// minute): were the demo's dozen sign-ins at start-up counted against
/// 127.0.0.1, the person opening the dashboard from the same machine could
/// be refused. Each demo account gets its own address in TEST-NET-1
/// (192.0.2.0/24, RFC 5737: for documentation, never routed).
pub(crate) fn address(seat: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, seat))
}

/// One demo account, signed in.
pub(crate) struct Actor {
    session: Session,
    current: Authenticated,
}

impl Actor {
    /// Signs in with email and password (the sign-in every door offers).
    ///
    /// # Errors
    /// What the accounts service answers (`UNAUTHENTICATED` for a wrong
    /// password or an unknown account, `FORBIDDEN` when deactivated).
    pub(crate) async fn sign_in(
        services: &Services,
        email: &Email,
        password: &Password,
        from: IpAddr,
    ) -> Result<Actor, AppError> {
        let sign_in = SignIn {
            email: email.clone(),
            password: password.clone(),
        };
        let session = services.accounts.login(sign_in, from).await?;
        Self::from_session(services, session).await
    }

    /// Registers a user account, or signs in when the email is taken (an
    /// earlier start registered it).
    ///
    /// # Errors
    /// What the accounts service answers.
    pub(crate) async fn register(
        services: &Services,
        name: &str,
        email: &Email,
        password: &Password,
        from: IpAddr,
    ) -> Result<Actor, AppError> {
        let registration = Registration {
            name: UserName::parse(name).map_err(|e| e.on("name"))?,
            email: email.clone(),
            password: password.clone(),
        };
        match services.accounts.register(registration, from).await {
            Ok(session) => Self::from_session(services, session).await,
            Err(AppError::Conflict(_)) => Self::sign_in(services, email, password, from).await,
            Err(other) => Err(other),
        }
    }

    async fn from_session(services: &Services, session: Session) -> Result<Actor, AppError> {
        let current = services
            .authenticator
            .authenticate(&session.access.token)
            .await?;
        Ok(Actor { session, current })
    }

    /// The account as it was when the session started.
    pub(crate) fn user(&self) -> &User {
        &self.session.user
    }

    /// Who the next call is made as: the access token checked again (an
    /// admin may have deactivated or signed out the account meanwhile),
    /// the session renewed first when the token is about to expire or was
    /// voided by a sign-out elsewhere.
    ///
    /// # Errors
    /// `UNAUTHENTICATED` when neither the token nor a renewal works any
    /// more (the account was deactivated or its session revoked);
    /// `UNAVAILABLE` when the store is down.
    pub(crate) async fn caller(&mut self, services: &Services) -> Result<Authenticated, AppError> {
        if self.current.expires_at - now().timestamp() < RENEW_BEFORE_SECS {
            self.renew(services).await?;
        }
        match services
            .authenticator
            .authenticate(&self.session.access.token)
            .await
        {
            Ok(current) => self.current = current,
            Err(AppError::Unauthenticated(_)) => self.renew(services).await?,
            Err(other) => return Err(other),
        }
        Ok(self.current.clone())
    }

    async fn renew(&mut self, services: &Services) -> Result<(), AppError> {
        let session = services.accounts.refresh(&self.session.refresh).await?;
        *self = Self::from_session(services, session).await?;
        Ok(())
    }
}
