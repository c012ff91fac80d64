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
