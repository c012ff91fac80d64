// Every GraphQL document the dashboard sends (see schema.graphql at the repository root).

const ORDER = `id quantity unitPrice total status createdAt updatedAt
  user { id name email } product { id name }`;
const PRODUCT = `id name price stock description createdAt updatedAt`;
const MESSAGE = `id text seen seenAt createdAt from { id name } to { id name }`;
const USER = `id name email role active online presence lastActive`;

export const STATS = `query Stats {
  dashboardStats {
    ordersByStatus { status count }
    revenue ordersLast24H productCount userCount usersOnline
    lowStockProducts { id name stock }
  }
  recent: orders(first: 100) { nodes { id createdAt } }
}`;

export const ORDERS = `query Orders($status: OrderStatus, $first: Int, $after: String) {
  orders(status: $status, first: $first, after: $after) {
    nodes { ${ORDER} }
    pageInfo { hasNextPage endCursor }
  }
}`;

export const ORDER_BY_ID = `query Order($id: ID!) { order(id: $id) { ${ORDER} } }`;

export const UPDATE_ORDER_STATUS = `mutation UpdateOrderStatus($id: ID!, $status: OrderStatus!) {
  updateOrderStatus(id: $id, status: $status) { ${ORDER} }
}`;

export const PRODUCTS = `query Products($first: Int, $after: String, $search: String) {
  products(first: $first, after: $after, search: $search, sort: NEWEST) {
    nodes { ${PRODUCT} }
    pageInfo { hasNextPage endCursor }
  }
}`;

export const CREATE_PRODUCT = `mutation CreateProduct($input: CreateProductInput!) {
  createProduct(input: $input) { ${PRODUCT} }
}`;
export const UPDATE_PRODUCT = `mutation UpdateProduct($id: ID!, $input: UpdateProductInput!) {
  updateProduct(id: $id, input: $input) { ${PRODUCT} }
}`;
export const DELETE_PRODUCT = `mutation DeleteProduct($id: ID!) { deleteProduct(id: $id) }`;

export const USERS = `query Users { users(first: 100) { nodes { ${USER} } pageInfo { hasNextPage endCursor } } }`;
export const SET_USER_ACTIVE = `mutation SetUserActive($id: ID!, $active: Boolean!) {
  setUserActive(id: $id, active: $active) { ${USER} }
}`;

export const CONVERSATIONS = `query Conversations($first: Int, $after: String) {
  conversationsConnection(first: $first, after: $after) {
    nodes { unreadCount peer { ${USER} } lastMessage { ${MESSAGE} } }
    pageInfo { hasNextPage endCursor }
  }
}`;

export const MESSAGES = `query Messages($with: ID!, $last: Int, $before: String) {
  messages(with: $with, last: $last, before: $before) {
    nodes { ${MESSAGE} }
    pageInfo { hasPreviousPage startCursor }
  }
}`;

export const SEND_MESSAGE = `mutation SendMessage($to: ID!, $text: String!) {
  sendMessage(to: $to, text: $text) { ${MESSAGE} }
}`;
export const MARK_SEEN = `mutation MarkSeen($with: ID!) { markMessagesSeen(with: $with) { ids seenAt } }`;
export const SET_TYPING = `mutation SetTyping($to: ID!, $typing: Boolean!) { setTyping(to: $to, typing: $typing) }`;

// Subscriptions (one root field each).
export const SUB_NEW_ORDER = `subscription { newOrder { ${ORDER} } }`;
export const SUB_ORDER_STATUS = `subscription { orderStatusUpdated { ${ORDER} } }`;
export const SUB_NEW_PRODUCT = `subscription { newProduct { ${PRODUCT} } }`;
export const SUB_PRODUCT_UPDATED = `subscription { productUpdated { ${PRODUCT} } }`;
export const SUB_PRODUCT_REMOVED = `subscription { productRemoved { productId } }`;
export const SUB_PRESENCE = `subscription { presenceChanged { online lastActive user { ${USER} } } }`;
export const SUB_MESSAGE = `subscription { messageReceived { ${MESSAGE} } }`;
export const SUB_SEEN = `subscription { messagesSeen { ids seenAt by { id } } }`;
export const SUB_TYPING = `subscription { userTyping { typing from { id name } } }`;
