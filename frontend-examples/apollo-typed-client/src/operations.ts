// Every operation the example sends. GraphQL Code Generator reads these
// `graphql(...)` calls, checks each against ../../schema.graphql and writes
// src/gql/ with a TypedDocumentNode per document: the variables and the
// result of each call below are typed from the schema.
import { graphql } from "./gql";

export const SessionFields = graphql(`
  fragment SessionFields on AuthPayload {
    token
    expiresIn
    user {
      id
      name
      role
    }
  }
`);

export const Register = graphql(`
  mutation Register($input: RegisterInput!) {
    register(input: $input) {
      ...SessionFields
    }
  }
`);

export const Login = graphql(`
  mutation Login($email: String!, $password: String!) {
    login(email: $email, password: $password) {
      ...SessionFields
    }
  }
`);

export const CreateProduct = graphql(`
  mutation CreateProduct($input: CreateProductInput!) {
    createProduct(input: $input) {
      id
      name
      price
      stock
    }
  }
`);

export const PlaceOrder = graphql(`
  mutation PlaceOrder($productId: ID!) {
    placeOrder(productId: $productId, quantity: 1) {
      id
      status
    }
  }
`);

/** What the cache is asked about an order, and what the subscription carries. */
export const OrderStatusFields = graphql(`
  fragment OrderStatusFields on Order {
    id
    status
    updatedAt
  }
`);

export const MyOrder = graphql(`
  query MyOrder($id: ID!) {
    order(id: $id) {
      ...OrderStatusFields
      quantity
      product {
        id
        name
      }
    }
  }
`);

export const WhoAmI = graphql(`
  query WhoAmI {
    me {
      id
      email
    }
  }
`);

export const MoveOrder = graphql(`
  mutation MoveOrder($id: ID!, $status: OrderStatus!) {
    updateOrderStatus(id: $id, status: $status) {
      id
      status
    }
  }
`);

export const OrderStatusUpdated = graphql(`
  subscription OrderStatusUpdated {
    orderStatusUpdated {
      ...OrderStatusFields
    }
  }
`);

/**
 * A Relay-style refetch: the order by its id alone, through the `Node`
 * interface. The result is an `Order` with its `id`, so the cache writes it
 * over the entry `MyOrder` filled (`Order:<id>`), not beside it.
 */
export const OrderRefetch = graphql(`
  query OrderRefetch($id: ID!) {
    node(id: $id) {
      __typename
      id
      ... on Order {
        ...OrderStatusFields
        quantity
      }
    }
  }
`);

/** What a read receipt changes on a message. */
export const MessageSeenFields = graphql(`
  fragment MessageSeenFields on Message {
    id
    seen
    seenAt
  }
`);

export const SendMessage = graphql(`
  mutation SendMessage($to: ID!, $text: String!) {
    sendMessage(to: $to, text: $text) {
      id
      text
      createdAt
      ...MessageSeenFields
    }
  }
`);

/** The newest `last` messages of the thread with `with` (Relay backward paging). */
export const Thread = graphql(`
  query Thread($with: ID!, $last: Int!) {
    messages(with: $with, last: $last) {
      totalCount
      nodes {
        id
        text
        createdAt
        ...MessageSeenFields
      }
      pageInfo {
        hasPreviousPage
        startCursor
      }
    }
  }
`);

/**
 * A read receipt with the messages it marked, each with its `id`: the cache
 * merges `seen` and `seenAt` into the messages it holds by itself.
 */
export const ReceiptFields = graphql(`
  fragment ReceiptFields on SeenReceipt {
    ids
    seenAt
    messages {
      ...MessageSeenFields
    }
  }
`);

export const MessagesSeen = graphql(`
  subscription MessagesSeen {
    messagesSeen {
      ...ReceiptFields
    }
  }
`);

export const MarkMessagesSeen = graphql(`
  mutation MarkMessagesSeen($with: ID!) {
    markMessagesSeen(with: $with) {
      ...ReceiptFields
    }
  }
`);

/** What the cache holds about a product. */
export const ProductFields = graphql(`
  fragment ProductFields on Product {
    id
    name
    price
    stock
  }
`);

export const ProductById = graphql(`
  query ProductById($id: ID!) {
    product(id: $id) {
      ...ProductFields
    }
  }
`);

export const DeleteProduct = graphql(`
  mutation DeleteProduct($id: ID!) {
    deleteProduct(id: $id)
  }
`);

/** No object to normalize: the client evicts `Product:<productId>` itself. */
export const ProductRemoved = graphql(`
  subscription ProductRemoved {
    productRemoved {
      productId
      position
      at
    }
  }
`);
